"""`ltbot run` (and the demo): poll, step, write; resume after any restart.

Crash-only: start-up is recovery. The engine state saved with the last committed step is
restored, strategy histories are rebuilt from the recorded candles, and the feed continues its
candle cursors from the store, so timed events missed while down are caught up from the first
poll's candles and funding history, in order, never twice.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loguru import logger

from bot import __version__
from bot.adapters.sqlite.queries import LedgerQueries
from bot.config.settings import ExchangeSettings, Settings
from bot.config.strategy_loader import resolve
from bot.engine.candle_screen import CandleScreen
from bot.engine.engine import Engine
from bot.engine.ports import Clock, Feed, FeedError
from bot.reports.job import daily_report_job
from bot.runtime.clock import Stopwatch
from bot.runtime.lock import DatabaseLock
from bot.runtime.retention_job import retention_job
from bot.runtime.scheduler import run_jobs
from bot.runtime.session import Session, summary_line
from bot.runtime.wiring import build_engine, open_store

LIVE_KEY = "live"
# Builds and connects the live feed: exchange settings, candle timeframes, the daemon's clock
# (e.g. `bot.adapters.ccxt.feed.connect_feed`).
FeedConnector = Callable[[ExchangeSettings, Sequence[str], Clock], Feed]


class StepFailed(RuntimeError):
    """A step raised something unexpected (a bug, a disk that refuses writes): nothing of the
    step was committed, but the engine in memory may be half-moved, so the daemon stops rather
    than go on from a state the ledger does not hold. Crash-only: start-up is recovery."""


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


def run_daemon(
    settings: Settings,
    clock: Clock,
    connect: FeedConnector,
    options: DaemonOptions | None = None,
    *,
    wall_clock: Clock,
) -> str:
    """Run until SIGINT/SIGTERM (or `options.finished`); return the run's summary line.

    `clock` gives the step times (the system clock, or a sim exchange's in the demo);
    `wall_clock` is the system clock the scheduler keeps its own time on."""
    options = options or DaemonOptions()
    with DatabaseLock(settings.store.path), open_store(settings) as store:
        timeframes = {resolve(e.strategy).timeframe for e in settings.experiments}
        timeframes |= set(options.extra_timeframes)
        feed = connect(settings.exchange, sorted(timeframes), clock)
        if options.exchange_clock:
            clock = _ExchangeClock(feed, clock)
        try:
            engine = build_engine(settings, markets=feed.markets)
            session = Session(store, engine, LIVE_KEY)
            if session.resume():
                rebuild_histories(store, engine)
                _resume_cursors(store, engine, feed)
            freeze_startup_objects()
            run_id = store.start_run(
                clock.now(),
                options.mode,
                settings.exchange.id,
                json.loads(settings.model_dump_json()),
                __version__,
            )
            failures: list[StepFailed] = []
            run_jobs(
                _poller(session, feed, clock, options, settings.exchange.max_jump_pct, failures),
                settings.exchange.poll_seconds,
                _reporter(settings, clock) if options.report else None,
                settings.report.time,
                settings.report.timezone,
                maintenance=retention_job(settings),
                wall_clock=wall_clock,
            )
            store.end_run(run_id, clock.now())
            if failures:
                raise failures[0]
            line = summary_line(session.stats, [feed.summary(), strategy_summary(engine)])
            logger.info("run summary: {}", line)
            return line
        finally:
            gc.unfreeze()
            feed.close()


def freeze_startup_objects() -> None:
    """Move what start-up built (ccxt's markets, the engine, the strategy histories) out of
    the cyclic GC's reach: they live as long as the run, and a full collection walking them
    costs ~60 ms of CPU in the middle of a poll (20 symbols). Referenced objects are still
    freed as usual; `gc.unfreeze()` at the end of the run gives them back."""
    gc.collect()
    gc.freeze()


def _poller(
    session: Session,
    feed: Feed,
    clock: Clock,
    options: DaemonOptions,
    max_jump_pct: float,
    failures: list[StepFailed],
) -> Callable[[], bool]:
    screen = CandleScreen(max_jump_pct, refetch=feed)

    def poll() -> bool:
        try:
            at = clock.now()  # the exchange's clock may fail like any request
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        last = session.engine.last_at
        if last is not None and at <= last:
            return False  # no time has passed on this clock: nothing can be new
        watch = Stopwatch()
        try:
            update = feed.poll(at)
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        poll_seconds = watch.lap()
        update = screen.screen(update, session.engine.last_quotes)
        try:
            session.process(update)
        except Exception as exc:
            logger.opt(exception=exc).error("step at {} failed", at.isoformat())
            failures.append(
                StepFailed(
                    f"step at {at.isoformat()} failed ({exc!r}); nothing of it was written and "
                    "the daemon stopped: run it again to resume from the last committed step"
                )
            )
            return True  # stop the scheduler: the engine in memory may be half-moved
        logger.debug(
            "step {}: poll {:.3f}s, engine and ledger {:.3f}s",
            at.isoformat(),
            poll_seconds,
            watch.lap(),
        )
        return options.finished is not None and options.finished(at)

    return poll


class _ExchangeClock:
    """Step times from the exchange's clock; sleeping is the base clock's."""

    def __init__(self, feed: Feed, base: Clock) -> None:
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


def strategy_summary(engine: Engine) -> str:
    """Strategy faults of the run, e.g. "strategies: x 3 errors, y disabled (too slow)"."""
    parts = []
    for slot in engine.experiments:
        h = slot.health
        faults = [
            f"{n} {label}"
            for n, label in ((h.errors, "errors"), (h.bad_signals, "bad signals"))
            if n
        ]
        faults += [f"{h.slow_calls} slow calls"] if h.slow_calls else []
        faults += ["disabled (too slow)"] if h.disabled else []
        if faults:
            parts.append(f"{slot.name} {', '.join(faults)}")
    return "strategies: " + ("; ".join(parts) or "no faults")


def rebuild_histories(store: LedgerQueries, engine: Engine) -> None:
    """Refill each strategy's bar history (and its own state) from the recorded candles."""
    for slot in engine.experiments:
        tf = slot.aggregator.timeframe
        engine.replay_history(slot.name, store.iter_candles(slot.symbol, tf, end=engine.last_at))


def _resume_cursors(store: LedgerQueries, engine: Engine, feed: Feed) -> None:
    """Continue the feed where the last committed step left it, so the polls after a restart
    fetch what the uninterrupted run would have: the same candles (including those still
    queued by the per-poll budget), in the same steps."""
    if engine.last_at is not None:
        feed.resume_after(engine.last_at)
    for symbol, quote in engine.last_quotes.items():
        if quote.next_funding_at is not None:
            feed.resume_funding(symbol, quote.next_funding_at)
    for symbol in feed.symbols:
        first_tick: datetime | None = None
        for tf in feed.timeframes:
            last = store.last_candle_at(symbol, tf)
            if last is not None:
                feed.resume_candles(symbol, tf, last)
                continue
            # No candle yet: the series started with the symbol's first recorded poll.
            if first_tick is None:
                first = next(iter(store.iter_ticks([symbol])), None)
                if first is None:
                    break  # never polled: the series starts with the next poll
                first_tick = first.at
            feed.start_candles(symbol, tf, first_tick)
