"""The per-poll budget of candle and funding-history requests (`[exchange]
history_requests_per_poll`), through real ccxt against the sim exchange with 5 symbols."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import pytest

from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.sim.exchange import SimExchange
from bot.engine.ports import MarketUpdate
from bot.runtime.clock import FakeClock

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


def make_feed(
    sim: SimExchange,
    budget: int | None,
    symbols: list[str] = SYMBOLS,
    timeframes: tuple[str, ...] = ("1h",),
) -> CcxtFeed:
    feed = CcxtFeed(
        symbols,
        api_url=sim.url,
        rate_limit=False,
        timeout_ms=2000,
        max_retries=0,
        clock=FakeClock(START),
        timeframes=timeframes,
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
        CcxtFeed(SYMBOLS, history_budget=0, exchange=object(), clock=FakeClock(START))


def test_only_the_configured_symbols_entries_are_parsed_with_the_same_quotes(
    sim: SimExchange,
) -> None:
    # Arrange: 2 of the 5 listed symbols; a second feed parses every entry, as ccxt does
    mine = [SYMBOLS[1], SYMBOLS[3]]
    feed, plain = make_feed(sim, None, mine), make_feed(sim, None, mine)
    for name in ("parse_funding_rates", "parse_last_prices", "parse_tickers"):
        del vars(plain.exchange)[name]  # back to ccxt's own methods
    parsed: list[str] = []
    parse_one = feed.exchange.parse_funding_rate

    def counting(entry: dict[str, str], *args: object) -> object:
        parsed.append(entry["symbol"])
        return parse_one(entry, *args)

    feed.exchange.parse_funding_rate = counting
    sim.set_time(START)

    # Act
    quotes, reference = feed.fetch_quotes(START), plain.fetch_quotes(START)

    # Assert
    assert parsed == ["ETHUSDT", "XRPUSDT"]  # not the 3 other listed symbols
    assert quotes == reference and [q.symbol for q in quotes] == mine


def test_a_symbols_timeframes_arrive_together_or_wait_together(sim: SimExchange) -> None:
    # Arrange: 15m and 1h for every symbol, budget 2: at 08:00 each symbol has 2 due series
    # (15m 07:45 and 1h 07:00); funding history takes 1 request, so no symbol fits
    feed = make_feed(sim, budget=2, timeframes=("15m", "1h"))
    times = [START, *(EIGHT + timedelta(seconds=15 * i) for i in range(1, 7))]

    # Act
    polls = [poll(sim, feed, at) for at in times]

    # Assert: at most 3 + 2 requests; then one symbol (both series) per poll, in symbol order
    assert [len(paths) for _, paths in polls] == [3, 4, 5, 5, 5, 5, 5]
    delivered = [sorted({c.symbol.split("/")[0] for c in u.candles}) for u, _ in polls]
    assert delivered == [[], [], ["BTC"], ["ETH"], ["SOL"], ["XRP"], ["DOGE"]]
    assert all(sorted(c.timeframe for c in u.candles) == ["15m", "1h"] for u, _ in polls[2:])


def test_when_one_series_fails_the_symbols_other_candles_come_again_with_it(
    sim: SimExchange,
) -> None:
    # Arrange: 15m and 1h; at 08:00:15 the 15m request succeeds, then the 1h one fails once
    feed = make_feed(sim, budget=None, symbols=[SYMBOLS[0]], timeframes=("15m", "1h"))
    poll(sim, feed, START)
    real = feed.exchange.fetch_ohlcv
    failures = [ccxt.ExchangeNotAvailable("503")]

    def flaky(symbol: str, timeframe: str, *args: object) -> object:
        if timeframe == "1h" and failures:
            raise failures.pop()
        return real(symbol, timeframe, *args)

    feed.exchange.fetch_ohlcv = flaky

    # Act
    failed, paths = poll(sim, feed, EIGHT + timedelta(seconds=15))
    again, _ = poll(sim, feed, EIGHT + timedelta(seconds=30))

    # Assert: the 15m candle fetched before the failure waits for the 1h one
    assert paths.count("/fapi/v1/klines") == 1 and failed.candles == ()
    assert sorted((c.timeframe, c.at.strftime("%H:%M")) for c in again.candles) == [
        ("15m", "07:45"),
        ("1h", "07:00"),
    ]
