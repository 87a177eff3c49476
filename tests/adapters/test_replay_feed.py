"""Replay feed: a data directory (feather/CSV) or a recorded database, on a replay clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest
from loguru import logger

from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.replay.feather import DataFormatError, read_frame, scan_data_dir
from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sim.exchange import SimExchange
from bot.adapters.sqlite.store import Store
from bot.engine.engine import Engine
from bot.engine.ports import MarketUpdate
from bot.engine.validation import SnapshotValidator
from bot.runtime.clock import ReplayClock, SystemClock
from bot.runtime.session import Session

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"
SHARED = REPO / ".." / "shared" / "data"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def first(feed: ReplayFeed, n: int) -> list[MarketUpdate]:
    return list(islice(feed, n))


def test_data_dir_replay_steps_on_the_finest_candle_closes() -> None:
    clock = ReplayClock()
    updates = first(ReplayFeed.from_data_dir(SAMPLE, clock=clock), 200)
    assert [u.at for u in updates[:2]] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert clock.now() == updates[-1].at
    for u in updates:
        assert [q.symbol for q in u.quotes] == [BTC, ETH]
        assert [(c.symbol, c.timeframe, c.at + timedelta(minutes=5)) for c in u.candles] == [
            (BTC, "5m", u.at),
            (ETH, "5m", u.at),
        ]
        assert [q.last for q in u.quotes] == [c.close for c in u.candles]
        assert all(
            q.at == u.at and q.next_funding_at and q.next_funding_at > u.at for q in u.quotes
        )


def test_mark_comes_from_mark_candles_and_funding_settles_once() -> None:
    updates = first(ReplayFeed.from_data_dir(SAMPLE), 12 * 9)  # to 09:00
    marks = read_frame(SAMPLE / "BTC_USDT_USDT-1h-mark.feather")
    one = next(u for u in updates if u.at == T0 + timedelta(hours=1))
    assert one.quotes[0].mark == marks["close"].iloc[0]  # the 00:00 mark candle closed at 01:00
    assert updates[0].quotes[0].mark is None  # no mark candle closed yet
    between = next(u for u in updates if u.at == T0 + timedelta(hours=1, minutes=5))
    assert between.quotes[0].mark == pytest.approx(between.quotes[0].last, rel=1e-3)
    settled = [(u.at, f.symbol, f.at) for u in updates for f in u.funding]
    eight = T0 + timedelta(hours=8)
    assert settled == [(eight, BTC, eight), (eight, ETH, eight)]


def test_replay_is_deterministic_and_bounded_by_start_and_end() -> None:
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=1, hours=2)
    a = list(ReplayFeed.from_data_dir(SAMPLE, [ETH], start, end))
    b = list(ReplayFeed.from_data_dir(SAMPLE, [ETH], start, end))
    assert a == b
    assert len(a) == 24 and a[0].candles[0].at == start and a[-1].at == end


def test_poll_merges_everything_up_to_the_time() -> None:
    feed = ReplayFeed.from_data_dir(SAMPLE, [BTC])
    update = feed.poll(T0 + timedelta(minutes=17))
    assert [c.at.minute for c in update.candles] == [0, 5, 10]
    assert [q.at.minute for q in update.quotes] == [15]
    assert feed.poll(T0 + timedelta(minutes=19)).candles == ()
    assert next(feed).at == T0 + timedelta(minutes=20)


def test_csv_layout_replays_like_feather(tmp_path: Path) -> None:
    for f in scan_data_dir(SAMPLE):
        read_frame(f.path).to_csv(tmp_path / f.path.with_suffix(".csv").name, index=False)
    assert first(ReplayFeed.from_data_dir(tmp_path), 150) == first(
        ReplayFeed.from_data_dir(SAMPLE), 150
    )


def test_unknown_symbol_or_path_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no futures candles"):
        ReplayFeed.from_data_dir(SAMPLE, ["DOGE/USDT:USDT"])
    with pytest.raises(DataFormatError):
        ReplayFeed.open(tmp_path / "nothing")


def test_recorded_database_replays_what_was_recorded(tmp_path: Path) -> None:
    source = first(ReplayFeed.from_data_dir(SAMPLE), 120)
    with Store(tmp_path / "rec.db") as store:
        session = Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live")
        for update in source:
            session.process(update)
    feed = ReplayFeed.open(tmp_path / "rec.db", clock=ReplayClock())
    replayed = list(feed)
    feed.close()
    assert [(u.at, u.quotes) for u in replayed] == [(u.at, tuple(u.quotes)) for u in source]
    # Each candle is released by the first update at or after its close: the same step.
    assert [u.candles for u in replayed] == [u.candles for u in source]
    assert [u.funding for u in replayed] == [u.funding for u in source]


def test_replay_yields_what_the_live_feed_gets_from_the_sim_exchange() -> None:
    replay = first(ReplayFeed.from_data_dir(SAMPLE), 24)
    with SimExchange(speed=0, start=T0) as sim:
        live = CcxtFeed(
            [BTC, ETH], api_url=sim.url, rate_limit=False, timeframes=["5m"], clock=SystemClock()
        )
        live.connect(max_attempts=1)
        live.poll(T0)
        for expected in replay:
            sim.set_time(expected.at)
            got = live.poll(expected.at)
            assert got.candles == expected.candles
            assert got.funding == expected.funding
            for g, e in zip(got.quotes, expected.quotes, strict=True):
                assert (g.symbol, g.at, g.last) == (e.symbol, e.at, e.last)
                assert (g.funding_rate, g.next_funding_at) == (e.funding_rate, e.next_funding_at)
                if e.mark is not None:
                    assert g.mark == pytest.approx(e.mark, rel=1e-9)
        live.close()


def test_shared_1m_data_with_jittered_funding_replays_on_the_hour() -> None:
    folder = SHARED / "binance_usdm" / "1m" / "2025-05_2025-06"
    if not folder.is_dir():
        pytest.skip("../shared/data not present")
    logger.debug("replaying {}", folder)
    feed = ReplayFeed.from_data_dir(folder, [BTC], end=datetime(2025, 5, 6, tzinfo=UTC))
    updates = list(feed)
    steps = {u.at - v.at for v, u in zip(updates, updates[1:], strict=False)}
    assert steps == {timedelta(minutes=1)}
    settled = [f for u in updates for f in u.funding]
    assert [f.at.hour for f in settled] == [16, 0, 8, 16, 0]
    assert all(f.at.microsecond == 0 and f.at.second == 0 for f in settled)
