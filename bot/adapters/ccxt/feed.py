"""Live market data through ccxt: `CcxtFeed`, the `Feed` of `ltbot run` and the demo.

Public endpoints only: the exchange is built without credentials and never trades. Markets are
loaded once (`connect`). Each `poll(at)` makes a constant number of batched requests where the
exchange has batch endpoints (binanceusdm: premiumIndex, ticker/price, ticker/bookTicker for all
symbols at once), fetches newly closed candles of the configured timeframes only when one can
have closed, and, after the exchange rolls its next funding time, the settled rate from the
funding history (binanceusdm: one request for all symbols). Candle and funding-history requests
go through a per-poll budget (`history_budget`, see `candles.py`), so a poll makes at most
3 + budget requests whatever the number of symbols; what does not fit waits for the next poll,
in a deterministic order. Transient errors are retried with backoff (see `retry.py`); a poll that
still fails raises `FeedError` and the daemon skips it. Dicts become domain values in
`parse.py`; `Any` stays inside these adapter modules. The pieces: `exchange.py` (the ccxt
client, error classes), `quotes.py`, `candles.py` (series cursors, fetch queue), `funding.py`
(settlements), `budget.py` (requests per poll).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import ccxt
from loguru import logger

from bot.adapters.ccxt.budget import HistoryBudget
from bot.adapters.ccxt.candles import CandleCursors, DroppedRows
from bot.adapters.ccxt.exchange import (
    POLL_ERRORS,
    QUIET,
    TRANSIENT,
    build_exchange,
    check_markets,
)
from bot.adapters.ccxt.funding import SettledFunding, funding_caps
from bot.adapters.ccxt.parse import build_candles, build_funding, to_ms
from bot.adapters.ccxt.quotes import fetch_quotes
from bot.adapters.ccxt.retry import Backoff, Retrier, RetryStats
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.bars import timeframe_seconds
from bot.engine.ports import Clock, FeedError, MarketUpdate

if TYPE_CHECKING:
    from bot.config.settings import ExchangeSettings

T = TypeVar("T")
# A loopback sim exchange has no rate limit: ccxt's client-side throttle is for real ones.
LOOPBACK = ("http://127.", "http://localhost", "http://[::1]")


@dataclass(frozen=True, slots=True)
class FeedStats:
    """Counters for the run summary."""

    polls: int
    polls_skipped: int
    retries: int
    requests_failed: int
    failure_streaks: int


class CcxtFeed:
    """A live `Feed` over one ccxt exchange (binanceusdm, bybit or okx swap markets).

    symbols: ccxt unified symbols (`BTC/USDT:USDT`); timeframes: the strategies' timeframes,
    whose closed candles each poll returns; warmup_bars: closed candles fetched on the first
    poll (0 = only candles closing after start-up; `resume_candles` continues from the store).
    clock: sleeps between retries and times failure streaks; rng seeds the backoff jitter.
    rate_limit: ccxt's client-side throttle (keep it on against real exchanges).
    history_budget: at most this many candle and funding-history requests per poll (None: no
    bound); see `CandleCursors.new_candles` for the order and what is exempt.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        exchange_id: str = "binanceusdm",
        *,
        clock: Clock,
        timeframes: Sequence[str] = (),
        api_url: str | None = None,
        timeout_ms: int = 10_000,
        max_retries: int = 5,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        rng: random.Random | None = None,
        rate_limit: bool = True,
        warmup_bars: int = 0,
        exchange: Any = None,
        history_budget: int | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("at least one symbol is required")
        self._symbols = tuple(symbols)
        self._timeframes = tuple(sorted(set(timeframes), key=timeframe_seconds))
        self.exchange_id = exchange_id
        self.api_url = api_url
        self.clock = clock
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
        self._dropped_rows = DroppedRows()
        self._candles = CandleCursors(
            self._symbols, self._timeframes, warmup_bars, self._fetch_ohlcv, self._guarded
        )
        self._funding = SettledFunding(
            exchange_id,
            self._symbols,
            self._fetch_funding_history,
            self._all_funding_rows,
            self._guarded,
        )

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
        check_markets(self.exchange, self.exchange_id, self.symbols)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The polled symbols, in poll order (fixed at construction)."""
        return self._symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The candle timeframes of every symbol, finest first (fixed at construction)."""
        return self._timeframes

    @property
    def markets(self) -> Mapping[str, Mapping[str, Any]]:
        """ccxt's markets by unified symbol (empty before `connect`)."""
        markets: Mapping[str, Mapping[str, Any]] = self.exchange.markets or {}
        return markets

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
                check_markets(self.exchange, self.exchange_id, self.symbols)
            quotes = self.fetch_quotes(at)
        except POLL_ERRORS as exc:
            if not isinstance(exc, QUIET):
                self.retrier.failed("poll", exc)  # starts a streak (one log line) if none yet
            self.retrier.poll_skipped()
            message = f"{self.exchange_id}: poll at {at.isoformat()} skipped ({exc})"
            raise FeedError(message) from exc
        # Candles count as closed only by the exchange's own time, when it is behind ours.
        ref = min([at, *(q.at for q in quotes)]) if quotes else at
        self._funding.settlements.observe(quotes)
        budget = HistoryBudget(self.history_budget)
        funding = self._funding.fetch(ref, budget)
        candles = self._candles.new_candles(at, ref, budget)
        self._candles.last_poll = at
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
        return fetch_quotes(self.exchange, self.symbols, at, self._call)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        def checked() -> T:
            result = fn()
            body = getattr(self.exchange, "last_http_response", None)
            if body is not None and getattr(self.exchange, "last_json_response", None) is None:
                # ccxt hands back the raw text of a non-JSON 200 (or "" for an empty body) and
                # its parsers then return empty results or fail; refuse it instead (not
                # transient: the poll is skipped).
                raise ccxt.BadResponse(f"{self.exchange_id} {what}: response is not JSON")
            return result

        return self.retrier.call(checked, what)

    def funding_caps(self) -> dict[str, float]:
        """The funding-rate cap per polled symbol the exchange lists (`funding_caps`)."""
        return funding_caps(self.exchange, self.exchange_id, self.symbols, self._call)

    # -- candles -------------------------------------------------------------------------

    def resume_candles(self, symbol: str, timeframe: str, last_open: datetime) -> None:
        """Continue after the candle that opened at `last_open` (e.g. the store's latest), so
        the first poll also returns the candles closed while the daemon was down."""
        self._candles.resume(symbol, timeframe, last_open)

    def start_candles(self, symbol: str, timeframe: str, first_poll: datetime) -> None:
        """Start a series as a poll at `first_poll` would have (the daemon's first poll of a
        series that has no stored candle yet), so a restart fetches a candle that was due but
        still waiting in the queue when the daemon died, as the uninterrupted run would."""
        self._candles.start(symbol, timeframe, first_poll)

    def resume_after(self, last_poll: datetime) -> None:
        """The time of the last step before a restart: candles opening after it were never
        seen as quotes, so they are fetched in the first poll (outside the budget)."""
        self._candles.last_poll = last_poll

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
        rows = list(
            self._call(
                lambda: self.exchange.fetch_ohlcv(symbol, timeframe, to_ms(since), limit, params),
                "fetch_ohlcv",
            )
            or []
        )
        candles = build_candles(symbol, timeframe, rows)
        self._dropped_rows.note(symbol, timeframe, len(rows) - len(candles))
        return candles

    # -- funding -------------------------------------------------------------------------

    def resume_funding(self, symbol: str, next_funding_at: datetime) -> None:
        """Continue from the next funding time known before a restart, so the first poll also
        fetches the rates of settlements that passed while the daemon was down."""
        self._funding.settlements.resume(symbol, next_funding_at)

    def _all_funding_rows(self, since: datetime, limit: int) -> list[Any]:
        # Every symbol's funding history at once (binanceusdm), raw rows, ascending.
        history = self.exchange.fetch_funding_rate_history
        call = functools.partial(history, None, to_ms(since), limit)
        return list(self._call(call, "fetch_funding_rate_history") or [])

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


def connect_feed(settings: ExchangeSettings, timeframes: Sequence[str], clock: Clock) -> CcxtFeed:
    """A connected feed for the daemon (markets loaded, symbols checked); ccxt's client-side
    throttle is off for a loopback (sim) exchange only."""
    loopback = (settings.api_url or "").startswith(LOOPBACK)
    feed = CcxtFeed.from_settings(
        settings, timeframes=timeframes, clock=clock, rate_limit=not loopback
    )
    feed.connect()
    return feed
