"""Live market data through ccxt: the only module in `bot/` that imports ccxt.

Public endpoints only: the exchange is built without credentials and never trades. Markets are
loaded once (`connect`). Each `poll(at)` makes a constant number of batched requests where the
exchange has batch endpoints (binanceusdm: premiumIndex, ticker/price, ticker/bookTicker for all
symbols at once), fetches newly closed candles of the configured timeframes only when one can
have closed, and, after the exchange rolls its next funding time, the settled rate from the
funding history (binanceusdm: one request for all symbols). Candle and funding-history requests
go through a per-poll budget (`history_budget`, see `_HistoryPlan`), so a poll makes at most
3 + budget requests whatever the number of symbols; what does not fit waits for the next poll,
in a deterministic order. Transient errors are retried with backoff (see `ccxt_retry`); a poll that
still fails raises `FeedError` and the daemon skips it. Dicts become domain values in
`ccxt_parse`; `Any` stays inside these adapter modules.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import ccxt
from loguru import logger

from bot.adapters.ccxt.funding import SettlementTracker
from bot.adapters.ccxt.parse import build_candles, build_funding, build_quote, from_ms, to_ms
from bot.adapters.ccxt.retry import Backoff, Retrier, RetryLater, RetryStats
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.bars import bucket_start, timeframe_seconds
from bot.runtime.clock import SystemClock
from bot.runtime.ports import Clock, FeedError, MarketUpdate

if TYPE_CHECKING:
    from bot.config.settings import ExchangeSettings

T = TypeVar("T")
# RequestTimeout, ExchangeNotAvailable (and OnMaintenance), RateLimitExceeded and DDoSProtection
# are all ccxt.NetworkError subclasses; they are the transient ones worth retrying.
TRANSIENT: tuple[type[BaseException], ...] = (ccxt.NetworkError,)
# Not a failure of its own: the exchange's Retry-After pause is still running.
QUIET: tuple[type[BaseException], ...] = (ccxt.NetworkError, RetryLater)
# What a poll can hit besides transient errors: exchange errors, and malformed or truncated
# responses that make ccxt's parsers fail.
POLL_ERRORS: tuple[type[BaseException], ...] = (
    ccxt.BaseError,
    RetryLater,
    KeyError,
    TypeError,
    ValueError,
)
CREDENTIALS = ("apiKey", "secret", "password", "uid", "login", "privateKey", "walletAddress")
SUPPORTED = ("binanceusdm", "bybit", "okx")
OHLCV_PAGE = 500  # candles per klines request
MAX_PAGES_PER_POLL = 4  # a long outage is caught up over several polls, not in one burst
FUNDING_GRACE = timedelta(hours=1)  # give up on a settled rate not published by then
FUNDING_PAGE = 1000  # rows per multi-symbol funding-history request (Binance's maximum)
# Exchanges whose funding history answers for every symbol at once when none is named.
ALL_SYMBOL_FUNDING_HISTORY = ("binanceusdm",)
# Exchanges whose batched endpoints answer for every listed symbol (hundreds), keyed by the
# market id in "symbol": ccxt would parse every entry before keeping ours (~19 ms for 600).
PARSE_OWN_ENTRIES_ONLY = ("binanceusdm",)


@dataclass(frozen=True, slots=True)
class FeedStats:
    """Counters for the run summary."""

    polls: int
    polls_skipped: int
    retries: int
    requests_failed: int
    failure_streaks: int


def build_exchange(exchange_id: str, api_url: str | None, timeout_ms: int, rate_limit: bool) -> Any:
    """A ccxt exchange for public swap market data, without credentials.

    `api_url` replaces the scheme and host of every REST URL (paths kept), e.g. the sim
    exchange `http://127.0.0.1:PORT` gives `.../fapi/v1`, `.../fapi/v2` for binanceusdm."""
    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"unknown exchange {exchange_id!r} (try one of {', '.join(SUPPORTED)})")
    config = {
        "enableRateLimit": rate_limit,
        # Keep the raw and parsed bodies of the last response: a 200 whose body is not JSON
        # (truncated, an HTML error page) is detected by comparing them.
        "enableLastHttpResponse": True,
        "enableLastJsonResponse": True,
        "timeout": timeout_ms,
        "options": {"defaultType": "swap", "fetchCurrencies": False},
    }
    exchange = getattr(ccxt, exchange_id)(config)
    for key in CREDENTIALS:  # paper mode: no keys ever, even if the environment has some
        if getattr(exchange, key, None):
            setattr(exchange, key, "")
    if api_url is not None:
        _override_urls(exchange.urls["api"], api_url.rstrip("/"))
    return exchange


def _override_urls(urls: dict[str, Any], base: str) -> None:
    for key, value in urls.items():
        if isinstance(value, str):
            urls[key] = re.sub(r"^https?://[^/]+", base, value)
        elif isinstance(value, dict):
            _override_urls(value, base)


class CcxtFeed:
    """A live `Feed` over one ccxt exchange (binanceusdm, bybit or okx swap markets).

    symbols: ccxt unified symbols (`BTC/USDT:USDT`); timeframes: the strategies' timeframes,
    whose closed candles each poll returns; warmup_bars: closed candles fetched on the first
    poll (0 = only candles closing after start-up; `resume_candles` continues from the store).
    clock: sleeps between retries and times failure streaks; rng seeds the backoff jitter.
    rate_limit: ccxt's client-side throttle (keep it on against real exchanges).
    history_budget: at most this many candle and funding-history requests per poll (None: no
    bound); see `_HistoryPlan` for the order and what is exempt.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        exchange_id: str = "binanceusdm",
        *,
        timeframes: Sequence[str] = (),
        api_url: str | None = None,
        timeout_ms: int = 10_000,
        max_retries: int = 5,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        rate_limit: bool = True,
        warmup_bars: int = 0,
        exchange: Any = None,
        history_budget: int | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("at least one symbol is required")
        self.symbols = list(symbols)
        self.timeframes = sorted(set(timeframes), key=timeframe_seconds)
        self.exchange_id = exchange_id
        self.api_url = api_url
        self.clock: Clock = clock or SystemClock()
        self.warmup_bars = warmup_bars
        if history_budget is not None and history_budget < 1:
            raise ValueError("history_budget must be at least 1")
        self.history_budget = history_budget
        self.exchange = exchange or build_exchange(exchange_id, api_url, timeout_ms, rate_limit)

        def retrier(name: str) -> Retrier:
            return Retrier(
                name,
                TRANSIENT,
                max_retries,
                Backoff(backoff_base_seconds, backoff_max_seconds, rng or random.Random()),
                self.clock.sleep,
                self.clock.now,
                lambda: self.exchange.last_response_headers,
            )

        self.retrier = retrier(exchange_id)
        # The exchange clock (`--clock exchange`) has its own failure streaks: its success at
        # the start of each poll must not end a streak of the market-data requests.
        self._time_retrier = retrier(f"{exchange_id} clock")
        self._connected = False
        self._polls = 0
        self._cursor: dict[tuple[str, str], datetime] = {}  # next candle open time wanted
        self._settlements = SettlementTracker(FUNDING_GRACE)
        self._last_poll: datetime | None = None  # time of the previous poll that gave quotes

    @classmethod
    def from_settings(cls, settings: ExchangeSettings, **kwargs: Any) -> CcxtFeed:
        """Build from `[exchange]` settings; kwargs (timeframes, clock, ...) are passed on."""
        return cls(
            settings.symbols,
            settings.id,
            api_url=settings.api_url,
            timeout_ms=settings.timeout_ms,
            max_retries=settings.max_retries,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            history_budget=settings.history_requests_per_poll,
            **kwargs,
        )

    # -- start-up ------------------------------------------------------------------------

    def connect(
        self, max_attempts: int | None = None, should_stop: Callable[[], bool] | None = None
    ) -> None:
        """Load markets once, retrying forever (or `max_attempts`) while the exchange is
        unreachable; then check that every symbol is a listed swap market (ValueError if not).
        Raises FeedError when attempts run out or `should_stop()` turns true."""
        attempt = 0
        while not self._connected:
            try:
                self.exchange.load_markets()
                self._connected = True
                self.retrier.succeeded()
            except TRANSIENT as exc:
                attempt += 1
                if attempt == 1:
                    logger.warning(
                        "cannot reach {} at {} ({}); retrying until it answers. "
                        "No network? `ltbot demo` runs offline against the bundled sim exchange.",
                        self.exchange_id,
                        self._host(),
                        type(exc).__name__,
                    )
                self.retrier.failed("load_markets", exc, log=False)  # logged above
                if (max_attempts is not None and attempt >= max_attempts) or (
                    should_stop is not None and should_stop()
                ):
                    raise FeedError(f"{self.exchange_id} unreachable at {self._host()}") from exc
                wait = self.retrier.backoff.delay(min(attempt - 1, 16), self.retrier.retry_after())
                self.clock.sleep(wait)
            except ccxt.BaseError as exc:
                raise FeedError(f"{self.exchange_id}: cannot load markets ({exc})") from exc
        self._check_symbols()

    def _check_symbols(self) -> None:
        markets = self.exchange.markets or {}
        for symbol in self.symbols:
            market = markets.get(symbol)
            if market is None:
                raise ValueError(f"{self.exchange_id} has no market {symbol!r}")
            if not market.get("swap"):
                raise ValueError(f"{symbol!r} on {self.exchange_id} is not a perpetual swap")
        if self.exchange_id in PARSE_OWN_ENTRIES_ONLY:
            ids = {str(markets[s]["id"]) for s in self.symbols}
            for name in ("parse_funding_rates", "parse_last_prices", "parse_tickers"):
                original = getattr(type(self.exchange), name).__get__(self.exchange)
                setattr(self.exchange, name, functools.partial(_parse_entries_of, ids, original))

    def _host(self) -> str:
        if self.api_url is not None:
            return self.api_url
        api = self.exchange.urls.get("api")
        if isinstance(api, dict):
            # Prefer the public market-data endpoint the feed really calls (fapi on binanceusdm).
            keys = [k for k in ("fapiPublic", "public") if k in api] or list(api)
            api = api[keys[0]] if keys else ""
        return str(api) if api else self.exchange_id

    # -- polling -------------------------------------------------------------------------

    def poll(self, at: datetime) -> MarketUpdate:
        """Quotes for every symbol, newly closed candles and newly settled funding up to `at`.

        Raises FeedError when the quotes cannot be fetched (after retries): skip this poll.
        Candles and funding that fail are fetched again on a later poll."""
        self._polls += 1
        try:
            if not self._connected:
                self.retrier.call(self.exchange.load_markets, "load_markets")
                self._connected = True
                self._check_symbols()
            quotes = self.fetch_quotes(at)
        except POLL_ERRORS as exc:
            if not isinstance(exc, QUIET):
                self.retrier.failed("poll", exc)  # starts a streak (one log line) if none yet
            self.retrier.poll_skipped()
            message = f"{self.exchange_id}: poll at {at.isoformat()} skipped ({exc})"
            raise FeedError(message) from exc
        # Candles count as closed only by the exchange's own time, when it is behind ours.
        ref = min([at, *(q.at for q in quotes)]) if quotes else at
        self._settlements.observe(quotes)
        plan = _HistoryPlan(self.history_budget)
        funding = self._settled_funding(ref, plan)
        candles = self._new_candles(at, ref, plan)
        self._last_poll = at
        return MarketUpdate(at, tuple(quotes), tuple(candles), tuple(funding))

    def _guarded(self, fn: Callable[[], list[T]], what: str) -> list[T]:
        # Candles and funding that fail now are fetched on a later poll: the poll goes on.
        try:
            return fn()
        except POLL_ERRORS as exc:
            if not isinstance(exc, QUIET):
                self.retrier.failed(what, exc)
            return []

    def fetch_quotes(self, at: datetime) -> list[Quote]:
        """One quote per symbol that has a last price, from batched calls where available."""
        has, symbols = self.exchange.has, self.symbols
        rates = self._batched("fetchFundingRates", "fetchFundingRate", symbols)
        if has.get("fetchLastPrices") is True and has.get("fetchBidsAsks") is True:
            # Binance: ticker/price (weight 2) + bookTicker (5) instead of ticker/24hr (40),
            # whose futures variant has no bid/ask anyway.
            tickers = [
                self._batched("fetchLastPrices", None, symbols),
                self._batched("fetchBidsAsks", None, symbols),
            ]
        else:
            tickers = [self._batched("fetchTickers", "fetchTicker", symbols)]
        lacking = [s for s in symbols if not _has_mark(s, rates, tickers)]
        if lacking and has.get("fetchMarkPrices"):
            tickers.append(self._batched("fetchMarkPrices", None, lacking))
        quotes = []
        for symbol in symbols:
            sources = [t[symbol] for t in tickers if isinstance(t.get(symbol), Mapping)]
            rate = rates.get(symbol) if isinstance(rates.get(symbol), Mapping) else None
            quote = build_quote(symbol, at, sources, rate)
            if quote is not None:
                quotes.append(quote)
        return quotes

    def _batched(self, batch: str, single: str | None, symbols: list[str]) -> dict[str, Any]:
        has = self.exchange.has
        if has.get(batch):
            method = getattr(self.exchange, _snake(batch))
            result = self._call(lambda: method(symbols), _snake(batch))
            return dict(result or {})
        if single is None or not has.get(single):
            return {}
        one = getattr(self.exchange, _snake(single))
        return {s: self._call(_bind(one, s), _snake(single)) for s in symbols}

    def _call(self, fn: Callable[[], T], what: str) -> T:
        def checked() -> T:
            result = fn()
            body = getattr(self.exchange, "last_http_response", None)
            if body and getattr(self.exchange, "last_json_response", None) is None:
                # ccxt hands back the raw text of a non-JSON 200 and its parsers then return
                # empty results; refuse it instead (not transient: the poll is skipped).
                raise ccxt.BadResponse(f"{self.exchange_id} {what}: response is not JSON")
            return result

        return self.retrier.call(checked, what)

    # -- candles -------------------------------------------------------------------------

    def resume_candles(self, symbol: str, timeframe: str, last_open: datetime) -> None:
        """Continue after the candle that opened at `last_open` (e.g. the store's latest), so
        the first poll also returns the candles closed while the daemon was down."""
        seconds = timeframe_seconds(timeframe)
        self._cursor[symbol, timeframe] = last_open + timedelta(seconds=seconds)

    def start_candles(self, symbol: str, timeframe: str, first_poll: datetime) -> None:
        """Start a series as a poll at `first_poll` would have (the daemon's first poll of a
        series that has no stored candle yet), so a restart fetches a candle that was due but
        still waiting in the queue when the daemon died, as the uninterrupted run would."""
        self._cursor[symbol, timeframe] = self._first_cursor(first_poll, timeframe)

    def resume_after(self, last_poll: datetime) -> None:
        """The time of the last step before a restart: candles opening after it were never
        seen as quotes, so they are fetched in the first poll (outside the budget)."""
        self._last_poll = last_poll

    def _first_cursor(self, at: datetime, timeframe: str) -> datetime:
        seconds = timeframe_seconds(timeframe)
        return bucket_start(at, seconds) - self.warmup_bars * timedelta(seconds=seconds)

    def _new_candles(self, at: datetime, ref: datetime, plan: _HistoryPlan) -> list[Candle]:
        """The closed candles this poll fetches, a symbol's due series together (a strategy
        whose timeframe is coarser than another series of its symbol takes its bars from the
        finer candles when its own are missing, so they must arrive in the same step):

        - symbols with candles never seen as quotes (start-up warm-up, catch-up after
          downtime): all of them, outside the budget;
        - then the other symbols with due series, oldest close first, then in `symbols` order,
          while their series fit in what is left of the budget (a symbol with more timeframes
          than the whole budget goes alone, first in a poll).
        """
        due: list[tuple[datetime, int, str, list[str]]] = []
        for i, symbol in enumerate(self.symbols):
            mine: list[str] = []
            oldest: datetime | None = None
            for timeframe in self.timeframes:
                key = (symbol, timeframe)
                if key not in self._cursor:
                    self._cursor[key] = self._first_cursor(at, timeframe)
                close = self._cursor[key] + timedelta(seconds=timeframe_seconds(timeframe))
                if close <= ref:
                    mine.append(timeframe)
                    oldest = close if oldest is None else min(oldest, close)
            if oldest is not None:
                due.append((oldest, i, symbol, mine))
        out: list[Candle] = []
        queued = []
        for _, _, symbol, timeframes in sorted(due, key=lambda d: (d[0], d[1])):
            if any(self._unseen(tf, ref) for tf in timeframes):
                out += self._guarded(functools.partial(self._symbol, symbol, ref, None), "candles")
            else:
                queued.append((symbol, timeframes))
        first = True
        for symbol, timeframes in queued:
            # A symbol with more series than the whole budget goes alone, first in a poll.
            alone = first and not plan.fits_budget(len(timeframes))
            if not (alone or plan.fits(len(timeframes))):
                break  # the rest waits for the next poll, in this order
            first = False
            plan.reserve(len(timeframes))  # the first page of each series
            out += self._guarded(functools.partial(self._symbol, symbol, ref, plan), "candles")
        return out

    def _symbol(self, symbol: str, ref: datetime, plan: _HistoryPlan | None) -> list[Candle]:
        # Every due series of one symbol, or none: when one fails, the others' cursors go back
        # and their candles come again with the failed ones on a later poll.
        before = {tf: self._cursor[symbol, tf] for tf in self.timeframes}
        out: list[Candle] = []
        try:
            for timeframe in self.timeframes:
                out += self._closed(symbol, timeframe, ref, plan)
        except POLL_ERRORS:
            for tf, cursor in before.items():
                self._cursor[symbol, tf] = cursor
            raise
        return out

    def _unseen(self, timeframe: str, ref: datetime) -> bool:
        # The newest closed candle opened at or after the previous poll (or there is none):
        # its prices were never seen as quotes, and the engine walks them in this step.
        if self._last_poll is None:
            return True
        seconds = timeframe_seconds(timeframe)
        newest_open = bucket_start(ref, seconds) - timedelta(seconds=seconds)
        return newest_open >= self._last_poll

    def _closed(
        self, symbol: str, timeframe: str, ref: datetime, plan: _HistoryPlan | None
    ) -> list[Candle]:
        step = timedelta(seconds=timeframe_seconds(timeframe))
        key = (symbol, timeframe)
        cursor = self._cursor[key]
        out: list[Candle] = []
        # A page may be shorter than asked (exchanges cap limits differently): go on while
        # candles keep closing, at most MAX_PAGES_PER_POLL requests per series and poll.
        for _ in range(MAX_PAGES_PER_POLL):
            if cursor + step > ref:
                break  # nothing can have closed since the last fetch: no request
            if plan is not None and cursor != self._cursor[key] and not plan.take():
                break  # a further page, and the budget is spent: it waits for the next poll
            rows = self._fetch_ohlcv(symbol, timeframe, cursor, OHLCV_PAGE)
            # The exchange also returns the candle still in progress: keep closed ones only.
            closed = [c for c in rows if c.at >= cursor and c.at + step <= ref]
            if not closed:
                break
            out.extend(closed)
            cursor = closed[-1].at + step
        self._cursor[key] = cursor  # only now: a failed page leaves the cursor where it was
        return out

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since: datetime,
        limit: int,
        price: str | None = None,
    ) -> list[Candle]:
        """Up to `limit` candles opening at or after `since` (price "mark" for mark klines);
        FeedError when it fails after retries."""
        try:
            return self._fetch_ohlcv(symbol, timeframe, since, limit, price)
        except POLL_ERRORS as exc:
            raise FeedError(f"{self.exchange_id} {symbol} {timeframe} candles: {exc}") from exc

    def _fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime, limit: int, price: str | None = None
    ) -> list[Candle]:
        params = {} if price is None else {"price": price}
        rows = self._call(
            lambda: self.exchange.fetch_ohlcv(symbol, timeframe, to_ms(since), limit, params),
            "fetch_ohlcv",
        )
        return build_candles(symbol, timeframe, list(rows or []))

    # -- funding -------------------------------------------------------------------------

    def _settled_funding(self, ref: datetime, plan: _HistoryPlan) -> list[FundingRate]:
        """Settled rates of the settlements seen to pass, before any candle (a rate fetched
        in the step of its settlement replaces the predicted one there; a later one only goes
        to the ledger). binanceusdm: one request for every symbol; otherwise one request per
        symbol, earliest settlement first, then symbol order, while the budget lasts."""
        waiting = self._settlements.waiting()
        if not waiting:
            return []
        out: list[FundingRate] = []
        if self.exchange_id in ALL_SYMBOL_FUNDING_HISTORY:
            fetch = functools.partial(self._settled_all, waiting, ref, plan)
            out.extend(self._guarded(fetch, "funding history"))
        else:
            order = {s: i for i, s in enumerate(self.symbols)}
            for symbol, earliest in sorted(waiting.items(), key=lambda w: (w[1], order[w[0]])):
                if not plan.take():
                    break
                fetch = functools.partial(self._settled, symbol, earliest, ref)
                out.extend(self._guarded(fetch, "funding history"))
        return sorted(out, key=lambda r: (r.at, r.symbol))

    def resume_funding(self, symbol: str, next_funding_at: datetime) -> None:
        """Continue from the next funding time known before a restart, so the first poll also
        fetches the rates of settlements that passed while the daemon was down."""
        self._settlements.resume(symbol, next_funding_at)

    def _settled(self, symbol: str, earliest: datetime, ref: datetime) -> list[FundingRate]:
        # 100 rows cover 33 days of 8-hourly settlements after the earliest pending one.
        rates = self._fetch_funding_history(symbol, earliest - timedelta(minutes=1), 100)
        return self._settlements.resolve(symbol, rates, ref)

    def _settled_all(
        self, waiting: Mapping[str, datetime], ref: datetime, plan: _HistoryPlan
    ) -> list[FundingRate]:
        # The history of every symbol from the earliest pending settlement on, ascending;
        # a full page is continued from its last time (rows there may have been cut).
        since = min(waiting.values()) - timedelta(minutes=1)
        by_symbol: dict[str, dict[datetime, FundingRate]] = {s: {} for s in waiting}
        history = self.exchange.fetch_funding_rate_history
        while plan.take():
            call = functools.partial(history, None, to_ms(since), FUNDING_PAGE)
            rows = list(self._call(call, "fetch_funding_rate_history") or [])
            for symbol, mine in _rows_by_symbol(rows, by_symbol).items():
                by_symbol[symbol].update((r.at, r) for r in build_funding(symbol, mine))
            stamps = [t for t in (_row_ms(r) for r in rows) if t is not None]
            if len(rows) < FUNDING_PAGE or not stamps or from_ms(max(stamps)) <= since:
                break
            since = from_ms(max(stamps))
        out: list[FundingRate] = []
        for symbol in waiting:
            rates = sorted(by_symbol[symbol].values(), key=lambda r: r.at)
            out.extend(self._settlements.resolve(symbol, rates, ref))
        return out

    def fetch_funding_history(self, symbol: str, since: datetime, limit: int) -> list[FundingRate]:
        """Settled funding rates at or after `since` (times rounded to the hour); FeedError
        when it fails after retries."""
        try:
            return self._fetch_funding_history(symbol, since, limit)
        except POLL_ERRORS as exc:
            raise FeedError(f"{self.exchange_id} {symbol} funding history: {exc}") from exc

    def _fetch_funding_history(self, symbol: str, since: datetime, limit: int) -> list[FundingRate]:
        rows = self._call(
            lambda: self.exchange.fetch_funding_rate_history(symbol, to_ms(since), limit),
            "fetch_funding_rate_history",
        )
        return build_funding(symbol, list(rows or []))

    # -- bookkeeping ---------------------------------------------------------------------

    def server_time(self) -> datetime:
        """The exchange's own clock (`GET time`), retried like any request.

        Raises FeedError when it cannot be had (after retries): the poll is skipped."""

        def fetch() -> datetime:
            ms = self.exchange.fetch_time()
            if getattr(self.exchange, "last_json_response", None) is None:
                raise ccxt.BadResponse(f"{self.exchange_id} fetch_time: response is not JSON")
            return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)  # TypeError when missing

        try:
            return self._time_retrier.call(fetch, "fetch_time")
        except POLL_ERRORS as exc:
            if not isinstance(exc, QUIET):
                self._time_retrier.failed("fetch_time", exc)  # one log line per streak
            self._time_retrier.poll_skipped()
            raise FeedError(f"{self.exchange_id}: no server time ({exc})") from exc

    @property
    def stats(self) -> FeedStats:
        """Counters for the run summary."""
        r: RetryStats = self.retrier.stats
        return FeedStats(self._polls, r.polls_skipped, r.retries, r.requests_failed, r.streaks)

    def summary(self) -> str:
        """One line for the end of a run."""
        s = self.stats
        return (
            f"{self.exchange_id}: {s.polls} polls, {s.polls_skipped} skipped, {s.retries} "
            f"retries, {s.failure_streaks} failure streaks"
        )

    def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()


def _bind(method: Callable[[str], Any], symbol: str) -> Callable[[], Any]:
    return lambda: method(symbol)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _has_mark(symbol: str, rates: Mapping[str, Any], tickers: list[dict[str, Any]]) -> bool:
    sources = [rates.get(symbol), *(t.get(symbol) for t in tickers)]
    return any(isinstance(s, Mapping) and s.get("markPrice") is not None for s in sources)


class _HistoryPlan:
    """The candle and funding-history requests one poll may still make (None: unbounded)."""

    __slots__ = ("budget", "left_")

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.left_ = budget

    def fits_budget(self, requests: int) -> bool:
        """Whether that many requests fit in a whole poll's budget."""
        return self.budget is None or self.budget >= requests

    def fits(self, requests: int) -> bool:
        """Whether that many requests are still allowed."""
        return self.left_ is None or self.left_ >= requests

    def reserve(self, requests: int) -> None:
        """Use that many requests of the budget (all that is left when fewer)."""
        if self.left_ is not None:
            self.left_ = max(0, self.left_ - requests)

    def take(self) -> bool:
        """Use one request of the budget; False when none is left."""
        if self.left_ is None:
            return True
        if self.left_ <= 0:
            return False
        self.left_ -= 1
        return True


def _row_ms(row: Any) -> int | None:
    stamp = row.get("timestamp") if isinstance(row, Mapping) else None
    return int(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None


def _rows_by_symbol(rows: list[Any], wanted: Mapping[str, object]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for row in rows:
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        if symbol in wanted:
            out.setdefault(str(symbol), []).append(row)
    return out


def _parse_entries_of(
    ids: set[str], parse: Callable[..., Any], response: Any, *args: Any, **kwargs: Any
) -> Any:
    """ccxt's `parse_funding_rates`/`parse_last_prices`/`parse_tickers` over only the entries of
    our markets: the same result (ccxt drops the others after parsing them), less CPU."""
    if isinstance(response, list):
        response = [e for e in response if isinstance(e, Mapping) and e.get("symbol") in ids]
    return parse(response, *args, **kwargs)
