"""The per-poll budget of candle and funding-history requests (`[exchange]
history_requests_per_poll`), through real ccxt against the sim exchange with 5 symbols."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.ccxt_feed import CcxtFeed
from bot.adapters.sim_exchange import SimExchange
from bot.clock import FakeClock
from bot.ports import MarketUpdate

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample"
INFO = SAMPLE.parent / "exchange_info_btc_eth.json"
BASES = ["BTC", "ETH", "SOL", "XRP", "DOGE"]  # SOL, XRP, DOGE: copies of BTC's or ETH's data
SYMBOLS = [f"{b}/USDT:USDT" for b in BASES]
START = datetime(2024, 3, 1, 7, 50, tzinfo=UTC)
EIGHT = datetime(2024, 3, 1, 8, tzinfo=UTC)
BATCHED = ["/fapi/v1/premiumIndex", "/fapi/v2/ticker/price", "/fapi/v1/ticker/bookTicker"]


def five_symbol_data(root: Path) -> Path:
    """A sim data directory: the bundled BTC and ETH sample under 5 names, and an
    exchangeInfo listing them (the copies take BTC's entry with their own names)."""
    info = json.loads(INFO.read_text(encoding="utf-8"))
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    for i, base in enumerate(BASES):
        source = "BTC" if i % 2 == 0 else "ETH"
        for f in SAMPLE.glob(f"{source}_USDT_USDT-*.feather"):
            (root / f.name.replace(source, base, 1)).symlink_to(f)
        if base not in ("BTC", "ETH"):
            entry = copy.deepcopy(btc)
            entry.update(symbol=f"{base}USDT", pair=f"{base}USDT", baseAsset=base)
            info["symbols"].append(entry)
    (root / "binance_fapi_exchangeInfo.json").write_text(json.dumps(info), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimExchange]:
    root = five_symbol_data(tmp_path_factory.mktemp("five"))
    with SimExchange(root, speed=0, start=START) as server:
        yield server


def make_feed(sim: SimExchange, budget: int | None) -> CcxtFeed:
    feed = CcxtFeed(
        SYMBOLS,
        api_url=sim.url,
        rate_limit=False,
        timeout_ms=2000,
        max_retries=0,
        clock=FakeClock(START),
        timeframes=["1h"],
        history_budget=budget,
    )
    feed.connect(max_attempts=1)
    return feed


def poll(sim: SimExchange, feed: CcxtFeed, at: datetime) -> tuple[MarketUpdate, list[str]]:
    sim.set_time(at)
    before = len(sim.requests)
    update = feed.poll(at)
    return update, [r.path for r in sim.requests[before:]]


def test_a_budget_of_2_spreads_5_closed_candles_over_polls_oldest_then_symbol_order(
    sim: SimExchange,
) -> None:
    # Arrange: polls every 15 s from 07:50; at 08:00 the 07:00 candle of every symbol closes
    # and every symbol settles funding
    feed = make_feed(sim, budget=2)
    times = [START, *(EIGHT + timedelta(seconds=15 * i) for i in range(1, 6))]

    # Act
    polls = [poll(sim, feed, at) for at in times]

    # Assert: never more than 3 + 2 requests; funding first (one request for all symbols),
    # then one candle, then two per poll, in symbol order; each candle exactly once
    assert [len(paths) for _, paths in polls] == [3, 5, 5, 5, 3, 3]
    assert all(paths[:3] == BATCHED for _, paths in polls)
    assert polls[1][1][3:] == ["/fapi/v1/fundingRate", "/fapi/v1/klines"]
    delivered = [[c.symbol.split("/")[0] for c in u.candles] for u, _ in polls]
    assert delivered == [[], ["BTC"], ["ETH", "SOL"], ["XRP", "DOGE"], [], []]
    assert all(c.at == EIGHT - timedelta(hours=1) for u, _ in polls for c in u.candles)
    assert [(f.symbol, f.at) for f in polls[1][0].funding] == [(s, EIGHT) for s in sorted(SYMBOLS)]
    assert all(u.funding == () for u, _ in polls[2:])


def test_without_a_budget_one_poll_fetches_every_closed_candle(sim: SimExchange) -> None:
    feed = make_feed(sim, budget=None)
    poll(sim, feed, START)
    update, paths = poll(sim, feed, EIGHT + timedelta(seconds=15))
    assert paths.count("/fapi/v1/klines") == 5 and paths.count("/fapi/v1/fundingRate") == 1
    assert [c.symbol for c in update.candles] == SYMBOLS


def test_candles_never_seen_as_quotes_are_fetched_at_once_outside_the_budget(
    sim: SimExchange,
) -> None:
    # Arrange: the previous poll was at 06:55, before the 07:00 candle opened (a restart
    # after downtime): its prices were never polled, the engine must walk them now
    feed = make_feed(sim, budget=1)
    feed.resume_after(START.replace(hour=6, minute=55))
    for symbol in SYMBOLS:
        feed.resume_candles(symbol, "1h", START.replace(hour=6, minute=0))

    # Act
    update, paths = poll(sim, feed, EIGHT + timedelta(seconds=15))

    # Assert
    assert paths.count("/fapi/v1/klines") == 5
    assert [c.symbol for c in update.candles] == SYMBOLS


def test_a_series_started_at_the_first_poll_resumes_its_queued_candle(sim: SimExchange) -> None:
    # The daemon died after the 08:00:15 poll, with ETH's 07:00 candle still queued and no
    # ETH candle stored: the restarted feed starts ETH as the first poll (07:50) did.
    feed = make_feed(sim, budget=1)
    feed.resume_after(EIGHT + timedelta(seconds=15))
    feed.resume_candles(SYMBOLS[0], "1h", EIGHT - timedelta(hours=1))
    for symbol in SYMBOLS[1:]:
        feed.start_candles(symbol, "1h", START)
    update, _ = poll(sim, feed, EIGHT + timedelta(seconds=30))
    assert [(c.symbol, c.at) for c in update.candles] == [(SYMBOLS[1], EIGHT - timedelta(hours=1))]


def test_a_budget_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="history_budget"):
        CcxtFeed(SYMBOLS, history_budget=0, exchange=object())
