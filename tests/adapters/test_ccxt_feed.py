"""The ccxt feed through real ccxt against the sim exchange on 127.0.0.1 (no internet)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from loguru import logger

from bot.adapters.ccxt.exchange import build_exchange
from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.sim.exchange import SimExchange
from bot.engine.ports import FeedError
from bot.engine.validation import SnapshotValidator
from bot.runtime.clock import FakeClock

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
START = datetime(2024, 3, 1, 7, 50, tzinfo=UTC)


class SleepRecorder(FakeClock):
    """A fake clock whose sleeps are recorded (and advance it) instead of blocking."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(speed=0, start=START) as server:
        yield server


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["level"].name + " " + m.record["message"]))
    yield lines
    logger.remove(sink)


def make_feed(sim: SimExchange, symbols: list[str] | None = None, **kw: Any) -> CcxtFeed:
    options: dict[str, Any] = {
        "api_url": sim.url,
        "rate_limit": False,
        "timeout_ms": 2000,
        "max_retries": 2,
        "backoff_base_seconds": 0.5,
        "backoff_max_seconds": 4.0,
        "clock": SleepRecorder(START),
        "rng": random.Random(7),
        "timeframes": ["5m"],
    }
    options.update(kw)
    feed = CcxtFeed(symbols or [BTC, ETH], "binanceusdm", **options)
    feed.connect(max_attempts=1)
    return feed


def paths(sim: SimExchange, since: int = 0) -> list[str]:
    return [r.path for r in sim.requests[since:]]


def test_poll_gives_domain_quotes_with_utc_times(sim: SimExchange) -> None:
    feed = make_feed(sim)
    update = feed.poll(sim.now())
    assert [q.symbol for q in update.quotes] == [BTC, ETH]
    btc = update.quotes[0]
    assert btc.at == START and btc.at.tzinfo is not None
    assert btc.last > 0 and btc.mark and btc.index_price and btc.bid and btc.ask
    assert btc.bid < btc.ask
    assert btc.funding_rate is not None
    assert btc.next_funding_at == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert not any(r.signed for r in sim.requests)
    assert not feed.exchange.apiKey and not feed.exchange.secret


@pytest.mark.parametrize("symbols", [[BTC], [BTC, ETH]])
def test_request_count_per_poll_does_not_grow_with_symbols(
    sim: SimExchange, symbols: list[str]
) -> None:
    feed = make_feed(sim, symbols, timeframes=[])
    before = len(sim.requests)
    feed.poll(sim.now())
    assert sorted(paths(sim, before)) == [
        "/fapi/v1/premiumIndex",
        "/fapi/v1/ticker/bookTicker",
        "/fapi/v2/ticker/price",
    ]


def test_closed_candles_are_fetched_once_and_only_when_one_can_have_closed(
    sim: SimExchange,
) -> None:
    feed = make_feed(sim, [BTC])
    first = feed.poll(sim.now())
    sim.advance(timedelta(minutes=2))
    before = len(sim.requests)
    quiet = feed.poll(sim.now())
    assert "/fapi/v1/klines" not in paths(sim, before)
    sim.advance(timedelta(minutes=9))  # 07:50 -> 08:01: the 07:50 and 07:55 bars closed
    closed = feed.poll(sim.now())
    again = feed.poll(sim.now())
    assert first.candles == () and quiet.candles == () and again.candles == ()
    assert [c.at.strftime("%H:%M") for c in closed.candles] == ["07:50", "07:55"]
    assert all(c.timeframe == "5m" and c.symbol == BTC for c in closed.candles)


def test_warmup_and_resume_fetch_history(sim: SimExchange) -> None:
    feed = make_feed(sim, [BTC], warmup_bars=3)
    assert [c.at.strftime("%H:%M") for c in feed.poll(sim.now()).candles] == [
        "07:35",
        "07:40",
        "07:45",
    ]
    resumed = make_feed(sim, [BTC])
    resumed.resume_candles(BTC, "5m", datetime(2024, 3, 1, 7, 0, tzinfo=UTC))
    assert len(resumed.poll(sim.now()).candles) == 9  # 07:05 .. 07:45


def test_settled_funding_is_fetched_after_the_settlement(sim: SimExchange) -> None:
    feed = make_feed(sim, [BTC, ETH], timeframes=[])
    before_settlement = feed.poll(sim.now())
    sim.advance(timedelta(minutes=11))  # 08:01
    settled = feed.poll(sim.now())
    later = feed.poll(sim.now())
    assert before_settlement.funding == ()
    eight = datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert [(f.symbol, f.at) for f in settled.funding] == [(BTC, eight), (ETH, eight)]
    predicted = {q.symbol: q.funding_rate for q in before_settlement.quotes}
    assert {f.symbol: f.rate for f in settled.funding} == pytest.approx(predicted)
    assert later.funding == ()


def test_rate_limit_is_retried_after_retry_after(sim: SimExchange, logs: list[str]) -> None:
    feed = make_feed(sim, timeframes=[])
    sim.inject("premiumIndex", "rate_limit", count=1, retry_after=3)
    update = feed.poll(sim.now())
    assert len(update.quotes) == 2
    assert isinstance(feed.clock, SleepRecorder)
    assert feed.clock.sleeps and feed.clock.sleeps[0] >= 3.0
    assert feed.stats.retries == 1 and feed.stats.polls_skipped == 0
    assert len([line for line in logs if line.startswith("WARNING")]) == 1


def test_backoff_grows_exponentially_with_jitter(sim: SimExchange) -> None:
    feed = make_feed(sim, timeframes=[], max_retries=3)
    sim.inject("premiumIndex", "server_error", count=3, status=503)
    feed.poll(sim.now())
    assert isinstance(feed.clock, SleepRecorder)
    sleeps = feed.clock.sleeps
    assert len(sleeps) == 3
    for n, slept in enumerate(sleeps):
        assert 0.5 * 0.5 * 2**n <= slept <= 0.5 * 2**n


def test_unrecoverable_polls_are_skipped_with_one_log_line_per_streak(
    sim: SimExchange, logs: list[str]
) -> None:
    feed = make_feed(sim, timeframes=[])
    sim.inject("*", "server_error", status=502)
    for _ in range(3):
        with pytest.raises(FeedError):
            feed.poll(sim.now())
    sim.clear_faults()
    assert len(feed.poll(sim.now()).quotes) == 2
    assert feed.stats.polls_skipped == 3 and feed.stats.failure_streaks == 1
    assert len([line for line in logs if line.startswith("WARNING")]) == 1
    assert any("recovered after 9 failed requests and 3 skipped polls" in line for line in logs)


def test_request_timeout_is_retried(sim: SimExchange) -> None:
    feed = make_feed(sim, timeframes=[], timeout_ms=300)
    sim.inject("ticker/price", "timeout", count=1, seconds=1)
    assert len(feed.poll(sim.now()).quotes) == 2
    assert feed.stats.retries == 1


def test_malformed_json_skips_the_poll(sim: SimExchange) -> None:
    feed = make_feed(sim, timeframes=[])
    sim.inject("premiumIndex", "malformed_json", count=1)
    with pytest.raises(FeedError):
        feed.poll(sim.now())
    assert len(feed.poll(sim.now()).quotes) == 2


@pytest.mark.parametrize(
    ("endpoint", "fault", "params", "reason"),
    [
        ("ticker/price", "missing_fields", {}, "missing"),
        ("*", "stale", {"seconds": 600}, "stale"),
        ("*", "spike", {"factor": 10.0}, "jump"),
    ],
)
def test_bad_snapshots_are_rejected_by_validation(
    sim: SimExchange, endpoint: str, fault: str, params: dict[str, float], reason: str
) -> None:
    feed = make_feed(sim, timeframes=[])
    validator = SnapshotValidator([BTC, ETH], max_jump_pct=0.25, stale_after_seconds=120)
    accepted, _ = validator.validate(feed.poll(sim.now()).quotes, sim.now())
    assert len(accepted) == 2
    sim.advance(timedelta(seconds=15))
    sim.inject(endpoint, fault, count=None, **params)
    accepted, rejected = validator.validate(feed.poll(sim.now()).quotes, sim.now())
    assert accepted == []
    assert {(r.symbol, r.reason) for r in rejected} == {(BTC, reason), (ETH, reason)}
    assert validator.counts[reason] == 2


def test_unreachable_exchange_at_start_up_names_it_and_points_to_demo(logs: list[str]) -> None:
    clock = SleepRecorder(START)
    feed = CcxtFeed(
        [BTC], api_url="http://127.0.0.1:9", rate_limit=False, timeout_ms=500, clock=clock
    )
    with pytest.raises(FeedError, match="binanceusdm unreachable"):
        feed.connect(max_attempts=3)
    warnings = [line for line in logs if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "binanceusdm" in warnings[0] and "ltbot demo" in warnings[0]
    assert len(clock.sleeps) == 2


def test_unknown_symbol_is_a_value_error(sim: SimExchange) -> None:
    with pytest.raises(ValueError, match="no market 'DOGE/USDT:USDT'"):
        make_feed(sim, ["DOGE/USDT:USDT"])


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "bybit", "okx"])
def test_exchanges_build_without_credentials_and_with_url_override(exchange_id: str) -> None:
    exchange = build_exchange(exchange_id, "http://127.0.0.1:1", 1000, rate_limit=False)
    assert not exchange.apiKey and not exchange.secret
    assert exchange.options["defaultType"] == "swap"
    urls = exchange.urls["api"]
    flat = [v for v in urls.values() if isinstance(v, str)] if isinstance(urls, dict) else [urls]
    assert flat and all(u.startswith("http://127.0.0.1:1") for u in flat)


def test_unknown_exchange_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported exchange 'nope'"):
        build_exchange("nope", None, 1000, rate_limit=False)
    with pytest.raises(ValueError, match="unsupported exchange 'kraken'"):  # ccxt has it
        build_exchange("kraken", None, 1000, rate_limit=False)


class FakeExchange:
    """Duck-typed ccxt exchange with bybit/okx-like capabilities, recording calls."""

    def __init__(self, has: dict[str, Any], mark_in_tickers: bool) -> None:
        self.has = has
        self.calls: list[str] = []
        self.markets = {s: {"swap": True} for s in (BTC, ETH)}
        self.urls = {"api": {"public": "https://example"}}
        self.last_response_headers = None
        self.mark_in_tickers = mark_in_tickers

    def load_markets(self) -> None:
        self.calls.append("load_markets")

    def fetch_tickers(self, symbols: list[str]) -> dict[str, Any]:
        self.calls.append("fetch_tickers")
        mark = 101.0 if self.mark_in_tickers else None
        return {
            s: {"last": 100.0, "bid": 99.9, "ask": 100.1, "markPrice": mark, "timestamp": 0}
            for s in symbols
        }

    def fetch_funding_rates(self, symbols: list[str]) -> dict[str, Any]:
        self.calls.append("fetch_funding_rates")
        return {s: {"fundingRate": 0.0001, "fundingTimestamp": 28_800_000} for s in symbols}

    def fetch_mark_prices(self, symbols: list[str]) -> dict[str, Any]:
        self.calls.append("fetch_mark_prices")
        return {s: {"markPrice": 102.0} for s in symbols}


@pytest.mark.parametrize(
    ("name", "has", "mark_in_tickers", "calls", "mark"),
    [
        ("bybit", {"fetchTickers": True, "fetchFundingRates": True}, True,
         ["fetch_funding_rates", "fetch_tickers"], 101.0),
        ("okx", {"fetchTickers": True, "fetchFundingRates": True, "fetchMarkPrices": True}, False,
         ["fetch_funding_rates", "fetch_tickers", "fetch_mark_prices"], 102.0),
    ],
)  # fmt: skip
def test_batched_plan_follows_the_exchange_capabilities(
    name: str, has: dict[str, Any], mark_in_tickers: bool, calls: list[str], mark: float
) -> None:
    fake = FakeExchange(has, mark_in_tickers)
    feed = CcxtFeed([BTC, ETH], name, exchange=fake, clock=FakeClock(START))
    feed.connect()
    update = feed.poll(datetime(1970, 1, 1, 0, 1, tzinfo=UTC))
    assert fake.calls[1:] == calls
    assert [q.mark for q in update.quotes] == [mark, mark]
    assert update.quotes[0].next_funding_at == datetime(1970, 1, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "Mon, 01 Jan 2024 00:00:30 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str] | None, seconds: float | None) -> None:
    from bot.adapters.ccxt.retry import retry_after_seconds

    assert retry_after_seconds(headers, datetime(2024, 1, 1, tzinfo=UTC)) == seconds


def test_failed_candle_fetch_keeps_the_poll_and_catches_up_later(sim: SimExchange) -> None:
    feed = make_feed(sim, [BTC])
    feed.poll(sim.now())
    sim.advance(timedelta(minutes=11))
    sim.inject("klines", "server_error", status=500)
    degraded = feed.poll(sim.now())
    sim.clear_faults()
    recovered = feed.poll(sim.now())
    assert len(degraded.quotes) == 1 and degraded.candles == ()
    assert [c.at.strftime("%H:%M") for c in recovered.candles] == ["07:50", "07:55"]
    assert feed.stats.polls_skipped == 0


def test_a_settled_rate_never_published_is_given_up_after_the_grace() -> None:
    from bot.adapters.ccxt.funding import SettlementTracker
    from bot.domain.values import FundingRate, Quote

    eight, sixteen = START.replace(hour=8, minute=0), START.replace(hour=16, minute=0)
    tracker = SettlementTracker(timedelta(hours=1))
    tracker.observe([Quote(BTC, START, 1.0, next_funding_at=eight)])
    assert tracker.waiting() == {}
    tracker.observe([Quote(BTC, eight, 1.0, next_funding_at=sixteen)])
    assert tracker.waiting() == {BTC: eight}
    assert tracker.resolve(BTC, [FundingRate(BTC, START, 0.1)], eight) == []
    assert tracker.waiting() == {BTC: eight}
    assert tracker.resolve(BTC, [], eight + timedelta(hours=2)) == []
    assert tracker.waiting() == {}


def test_feed_builds_from_exchange_settings(sim: SimExchange) -> None:
    from bot.config.settings import ExchangeSettings

    settings = ExchangeSettings(symbols=[BTC], api_url=sim.url, timeout_ms=1500, max_retries=1)
    feed = CcxtFeed.from_settings(settings, rate_limit=False, clock=FakeClock(START))
    feed.connect(max_attempts=1)
    assert feed.exchange.timeout == 1500 and feed.retrier.max_retries == 1
    assert [q.symbol for q in feed.poll(sim.now()).quotes] == [BTC]


def test_a_long_retry_after_pauses_requests_without_blocking(sim: SimExchange) -> None:
    feed = make_feed(sim, timeframes=[], backoff_max_seconds=4.0)
    sim.inject("premiumIndex", "rate_limit", count=1, retry_after=30)
    with pytest.raises(FeedError):
        feed.poll(sim.now())
    before = len(sim.requests)
    with pytest.raises(FeedError, match="wait until"):
        feed.poll(sim.now())
    assert len(sim.requests) == before  # honoured: nothing sent during the pause
    assert isinstance(feed.clock, SleepRecorder)
    assert feed.clock.sleeps == []  # and the daemon was never blocked for it
    feed.clock.advance(timedelta(seconds=31))
    assert len(feed.poll(sim.now()).quotes) == 2


def test_a_long_gap_settles_every_funding_time_in_it() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.adapters.ccxt.funding import SettlementTracker
    from bot.domain.values import FundingRate, Quote

    t8 = datetime(2024, 3, 2, 8, tzinfo=UTC)
    tracker = SettlementTracker()
    tracker.resume("BTC/USDT:USDT", t8)  # the last quote before a restart
    tracker.observe(
        [
            Quote(
                "BTC/USDT:USDT",
                t8 + timedelta(hours=21),
                1.0,
                next_funding_at=t8 + timedelta(hours=24),
            )
        ]
    )
    assert tracker.waiting() == {"BTC/USDT:USDT": t8}
    history = [
        FundingRate("BTC/USDT:USDT", t8 + timedelta(hours=h), 0.0001 * h) for h in (-8, 0, 8)
    ]
    found = tracker.resolve("BTC/USDT:USDT", history, t8 + timedelta(hours=21))
    assert [r.at for r in found] == [t8, t8 + timedelta(hours=8)]
    assert tracker.waiting() == {}
