"""The candle screen in a replay: absurd candles are held back and offered again with the next
update, as a live poll fetches them again (the live side: tests/reliability/test_faults.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from loguru import logger

from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sqlite.store import Store
from bot.adapters.sqlite.timefmt import format_time
from bot.config.settings import Settings
from bot.domain.values import Candle, Quote
from bot.engine.candle_screen import CandleScreen
from bot.engine.ports import MarketUpdate
from bot.runtime.replay_driver import run_replay

BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
N = 30  # updates: more than the screen's max_held (20) after the bad candle
BAD = 5  # index of the bad candle


def at(i: int) -> datetime:
    return T0 + STEP * i


def candle(i: int, close: float) -> Candle:
    return Candle(BTC, "5m", at(i), close, close * 1.001, close * 0.999, close, 1.0)


def series(closes: list[float]) -> list[MarketUpdate]:
    """One update per 5m candle close: the candle and a quote at its close (as a data dir)."""
    return [
        MarketUpdate(at(i + 1), (Quote(BTC, at(i + 1), c, c),), (candle(i, c),))
        for i, c in enumerate(closes)
    ]


def with_candle(updates: list[MarketUpdate], i: int, bad: Candle) -> list[MarketUpdate]:
    return [replace(u, candles=(bad,)) if k == i else u for k, u in enumerate(updates)]


def closes() -> list[float]:
    return [100.0 + 0.1 * i for i in range(N)]


@pytest.fixture
def screen_log() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(
        lambda m: lines.append(m.rstrip()),
        level="INFO",
        format="{level} {message}",
        filter="bot.engine",
    )
    yield lines
    logger.remove(sink)


def replay(tmp_path: Path, updates: list[MarketUpdate]) -> tuple[list[MarketUpdate], Settings]:
    """Run the real replay path; return the updates as the engine got them."""
    settings = Settings(
        exchange={"symbols": [BTC]},  # type: ignore[arg-type]
        store={"path": tmp_path / "replay.db"},  # type: ignore[arg-type]
        experiments=[
            {  # type: ignore[list-item]
                "name": "hold",
                "symbol": BTC,
                "strategy": "hold",
                "params": {"direction": "long"},
                "capital": 10_000,
                "vehicles": ["token:ftx", "perp:risk_pct=0.02", "spot"],
            }
        ],
    )
    seen: list[MarketUpdate] = []
    run_replay(settings, ReplayFeed(updates), on_step=seen.append)
    return seen, settings


def recorded(settings: Settings) -> list[tuple[str, str | None]]:
    """(open time, received_at) of the recorded candles, in open-time order."""
    with Store(settings.store.path) as store:
        rows = store.rows("candles", order_by="at")
    return [(row["at"], row["received_at"]) for row in rows]


def test_the_screen_keeps_held_candles_and_offers_them_again_before_the_next_ones() -> None:
    # Arrange: no refetch (a replay); the reference is 100, the candle gaps to 130
    screen = CandleScreen(0.25)
    gap = candle(0, 130.0)
    references = {BTC: Quote(BTC, at(0), 100.0, 100.0)}
    first = MarketUpdate(at(1), (Quote(BTC, at(1), 130.0, 130.0),), (gap,))
    second = MarketUpdate(at(2), (), (candle(1, 130.0),))
    third = MarketUpdate(at(3), (), (candle(2, 130.0),))

    # Act / Assert: held back and kept by the screen (the quote goes on)
    assert screen.screen(first, references) == replace(first, candles=())
    assert (screen.held, screen.pending) == (1, (gap,))
    # offered again first with the next update: still absurd, held again with the new one
    assert screen.screen(second, references).candles == ()
    assert (screen.held, screen.pending) == (2, (gap, candle(1, 130.0)))
    # once the accepted quotes have moved there, they pass, before the new candle
    moved = {BTC: Quote(BTC, at(2), 130.0, 130.0)}
    assert screen.screen(third, moved).candles == (gap, candle(1, 130.0), candle(2, 130.0))
    assert (screen.held, screen.pending) == (0, ())


def test_a_replayed_jump_or_wick_is_history_and_passes_at_once(
    tmp_path: Path, screen_log: list[str]
) -> None:
    # Arrange: a 40 % gap up from candle BAD on, and a 5m wick to 10x two candles later:
    # recorded history (replay screens without a jump bound, as ETH's 2020-03-13 wick shows)
    prices = [100.0] * BAD + [140.0] * (N - BAD)
    updates = series(prices)
    wick = replace(updates[BAD + 2].candles[0], high=updates[BAD + 2].candles[0].close * 10)
    updates = with_candle(updates, BAD + 2, wick)

    # Act
    seen, settings = replay(tmp_path, updates)

    # Assert: every candle reaches the engine in its own step, nothing is held, nothing logged
    assert [u.candles for u in seen] == [u.candles for u in updates]
    assert [k for k, _ in recorded(settings)] == [format_time(at(i)) for i in range(N)]
    assert screen_log == []


def test_an_inconsistent_candle_no_longer_breaks_a_replay_mid_step(
    tmp_path: Path, screen_log: list[str]
) -> None:
    # Arrange: a candle whose high is below its close (no price path runs through it)
    updates = series(closes())
    broken = replace(updates[BAD].candles[0], high=updates[BAD].candles[0].close - 1)
    updates = with_candle(updates, BAD, broken)

    # Act: no exception from the engine
    seen, settings = replay(tmp_path, updates)

    # Assert: held for max_held updates, then dropped; every other candle is replayed
    counts = [len(u.candles) for u in seen]
    assert counts == [1] * BAD + [0] * 20 + [20] + [1] * (N - BAD - 21)
    assert broken not in seen[BAD + 20].candles
    assert [k for k, _ in recorded(settings)] == [format_time(at(i)) for i in range(N) if i != BAD]
    assert screen_log == [
        f"WARNING {BTC} 5m candle at {at(BAD).isoformat()} implausible (close {broken.close:g}); "
        "held back and offered again with the next update (logged once per streak)",
        f"WARNING 1 malformed candles dropped after 20 polls held back (first: {BTC} 5m at "
        f"{at(BAD).isoformat()})",
    ]


def test_a_candle_off_its_timeframe_boundary_is_held_in_a_replay_too() -> None:
    # Arrange: a 5m candle stamped 12:02:30 (a file with shifted or garbled times)
    screen = CandleScreen(None)
    odd = replace(candle(0, 100.0), at=T0 + timedelta(minutes=2, seconds=30))
    # Act / Assert: held back, and the aligned candle beside it of another symbol passes
    other = replace(candle(0, 50.0), symbol="ETH/USDT:USDT")
    out = screen.screen(MarketUpdate(at(1), (), (odd, other)), {})
    assert out.candles == (other,)
    assert screen.pending == (odd,)


def test_a_crash_bar_the_fresh_quote_confirms_passes_live_at_once() -> None:
    # Arrange: accepted at 100; the 1h bar opens at 100 and falls to 70; the fresh quote is 71
    screen = CandleScreen(0.10)
    crash = Candle(BTC, "1h", T0, 100.0, 100.5, 69.0, 70.0, 9.0)
    spiked = Candle(BTC, "1h", T0, 1000.0, 1005.0, 690.0, 700.0, 9.0)  # opens far away
    last = {BTC: Quote(BTC, T0, 100.0, 100.0)}
    fresh = (Quote(BTC, T0 + timedelta(hours=1), 71.0, 71.0),)
    # Act / Assert
    ok = screen.screen(MarketUpdate(T0 + timedelta(hours=1), fresh, (crash,)), last)
    assert ok.candles == (crash,)
    held = screen.screen(MarketUpdate(T0 + timedelta(hours=1), fresh, (spiked,)), last)
    assert held.candles == ()


def test_a_live_candle_that_contradicts_the_accepted_quotes_is_held_then_dropped() -> None:
    # Arrange: quotes accepted every 10 minutes from 10:00 to 11:00 between 100 and 103; then
    # a "10:00" 1h candle that is really the just-opened 11:00 bar (flat at 101.5, volume 0)
    screen = CandleScreen(0.10, max_held=2)
    start = T0 + timedelta(hours=10)
    for i, price in enumerate([100.0, 103.0, 101.0, 100.5, 102.0, 101.0]):
        t = start + timedelta(minutes=10 * i)
        screen.screen(MarketUpdate(t, (), ()), {BTC: Quote(BTC, t, price, price)})
    flat = Candle(BTC, "1h", start, 101.5, 101.5, 101.5, 101.5, 0.0)
    true = Candle(BTC, "1h", start, 100.0, 103.2, 99.8, 101.6, 5.0)
    last = {BTC: Quote(BTC, start + timedelta(minutes=50), 101.0, 101.0)}
    # Act: offered three times (max_held 2)
    outs = [
        screen.screen(MarketUpdate(start + timedelta(hours=1), (), (flat,)), last) for _ in range(3)
    ]
    # Assert: held twice, then dropped (not accepted); the true bar passes
    assert [o.candles for o in outs] == [(), (), ()]
    assert screen.screen(MarketUpdate(start + timedelta(hours=1), (), (true,)), last).candles == (
        true,
    )
