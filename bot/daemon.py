"""`ltbot run` (and the demo): poll, step, write; resume after any restart.

Crash-only: start-up is recovery. The engine state saved with the last committed step is
restored, strategy histories are rebuilt from the recorded candles, and the feed continues its
candle cursors from the store, so timed events missed while down are caught up from the first
poll's candles and funding history, in order, never twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loguru import logger

from bot import __version__
from bot.adapters.ccxt_feed import CcxtFeed
from bot.adapters.sqlite_store import Store
from bot.app import build_engine, open_store
from bot.engine import Engine
from bot.lock import DatabaseLock
from bot.ports import Clock, FeedError
from bot.reports.job import daily_report_job
from bot.scheduler import run_jobs
from bot.session import Session, summary_line
from bot.settings import Settings
from bot.strategy_loader import StrategyHealth, resolve, safe_signal

LIVE_KEY = "live"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """How to run: `mode` for the runs table, extra candle timeframes to fetch for price
    paths, an optional `finished` check that ends the run (the demo's data end), and
    `exchange_clock`: take each step's time from the exchange (`GET time`) instead of our
    clock, for sim exchanges whose clock is not the wall clock (tests, crash drills)."""

    mode: str = "live"
    extra_timeframes: tuple[str, ...] = ()
    finished: Callable[[datetime], bool] | None = None
    report: bool = True
    exchange_clock: bool = False


def run_daemon(settings: Settings, clock: Clock, options: DaemonOptions | None = None) -> str:
    """Run until SIGINT/SIGTERM (or `options.finished`); return the run's summary line."""
    options = options or DaemonOptions()
    with DatabaseLock(settings.store.path), open_store(settings) as store:
        feed = _connect_feed(settings, clock, options)
        if options.exchange_clock:
            clock = _ExchangeClock(feed, clock)
        try:
            engine = build_engine(settings, markets=feed.exchange.markets)
            session = Session(store, engine, LIVE_KEY)
            if session.resume():
                rebuild_histories(store, engine)
                _resume_cursors(store, engine, feed)
            run_id = store.start_run(
                clock.now(),
                options.mode,
                settings.exchange.id,
                json.loads(settings.model_dump_json()),
                __version__,
            )
            run_jobs(
                _poller(session, feed, clock, options),
                settings.exchange.poll_seconds,
                _reporter(settings, clock) if options.report else None,
                settings.report.time,
                settings.report.timezone,
            )
            store.end_run(run_id, clock.now())
            line = summary_line(session.stats, [feed.summary()])
            logger.info("run summary: {}", line)
            return line
        finally:
            feed.close()


def _connect_feed(settings: Settings, clock: Clock, options: DaemonOptions) -> CcxtFeed:
    timeframes = {resolve(e.strategy).timeframe for e in settings.experiments}
    url = settings.exchange.api_url or ""
    # ccxt's client-side throttle protects real exchanges; a loopback sim exchange has no limit.
    loopback = url.startswith(("http://127.", "http://localhost", "http://[::1]"))
    feed = CcxtFeed.from_settings(
        settings.exchange,
        timeframes=sorted(timeframes | set(options.extra_timeframes)),
        clock=clock,
        rate_limit=not loopback,
    )
    feed.connect()
    return feed


def _poller(
    session: Session, feed: CcxtFeed, clock: Clock, options: DaemonOptions
) -> Callable[[], bool]:
    def poll() -> bool:
        try:
            at = clock.now()  # the exchange's clock may fail like any request
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        last = session.engine.last_at
        if last is not None and at <= last:
            return False  # no time has passed on this clock: nothing can be new
        started = time.perf_counter()
        try:
            update = feed.poll(at)
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        polled = time.perf_counter()
        session.process(update)
        logger.debug(
            "step {}: poll {:.3f}s, engine and ledger {:.3f}s",
            at.isoformat(),
            polled - started,
            time.perf_counter() - polled,
        )
        return options.finished is not None and options.finished(at)

    return poll


class _ExchangeClock:
    """Step times from the exchange's clock; sleeping is the base clock's."""

    def __init__(self, feed: CcxtFeed, base: Clock) -> None:
        self.feed = feed
        self.base = base

    def now(self) -> datetime:
        return self.feed.server_time()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)


def _reporter(settings: Settings, clock: Clock) -> Callable[[], None]:
    def report() -> None:
        daily_report_job(settings, clock.now())

    return report


def rebuild_histories(store: Store, engine: Engine) -> None:
    """Refill each strategy's bar history (and its own state) from the recorded candles."""
    for slot in engine.experiments:
        tf = slot.aggregator.timeframe
        for candle in store.iter_candles(slot.symbol, tf, end=engine.last_at):
            slot.history.append(
                candle.at, candle.open, candle.high, candle.low, candle.close, candle.volume
            )
            # Stateful strategies (e.g. breakouts) need to see every bar again; the signals
            # were acted on before the restart.
            safe_signal(slot.strategy, slot.history.view(), StrategyHealth(), slot.name)


def _resume_cursors(store: Store, engine: Engine, feed: CcxtFeed) -> None:
    for symbol, quote in engine.last_quotes.items():
        if quote.next_funding_at is not None:
            feed.resume_funding(symbol, quote.next_funding_at)
    for symbol in feed.symbols:
        for tf in feed.timeframes:
            last = store.last_candle_at(symbol, tf)
            if last is not None:
                feed.resume_candles(symbol, tf, last)
