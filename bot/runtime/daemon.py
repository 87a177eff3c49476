"""`ltbot run` (and the demo): poll, step, write; resume after any restart.

Crash-only: start-up is recovery. The engine state saved with the last committed step is
restored, strategy histories are rebuilt from the recorded candles, and the feed continues its
candle cursors from the store, so timed events missed while down are caught up from the first
poll's candles and funding history, in order, never twice.
"""

from __future__ import annotations

import errno
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loguru import logger

from bot import __version__
from bot.adapters.sqlite.identity import (
    LedgerFile,
    StorageFault,
    check_identity,
    inspect_ledger,
)
from bot.adapters.sqlite.queries import LedgerQueries
from bot.adapters.sqlite.store import STORAGE_ERRORS
from bot.adapters.sqlite.timefmt import format_time
from bot.config.settings import ExchangeSettings, Settings, redacted_config
from bot.config.strategy_loader import build_for
from bot.engine.candle_screen import CandleScreen
from bot.engine.engine import Engine
from bot.engine.ports import Clock, Feed, FeedError
from bot.reports.job import catch_up_reports, daily_report_job
from bot.runtime.clock import Stopwatch
from bot.runtime.lock import DatabaseLock
from bot.runtime.retention_job import retention_job
from bot.runtime.scheduler import run_jobs
from bot.runtime.session import Session, summary_line
from bot.runtime.warmup import warm_up_histories
from bot.runtime.wiring import build_engine, open_store, portfolio_rows, rename_experiments

LIVE_KEY = "live"
# OS errors that mean the ledger's storage failed (read-only, full, gone, unreadable).
_STORAGE_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EIO,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
}
# Builds and connects the live feed: exchange settings, candle timeframes, the daemon's clock
# (e.g. `bot.adapters.ccxt.feed.connect_feed`).
FeedConnector = Callable[[ExchangeSettings, Sequence[str], Clock], Feed]


class StepFailed(RuntimeError):
    """A step raised something unexpected (a bug, a disk that refuses writes): nothing of the
    step was committed, but the engine in memory may be half-moved, so the daemon stops rather
    than go on from a state the ledger does not hold. Crash-only: start-up is recovery."""


class StorageLost(StepFailed):
    """The database file was deleted, replaced or lost its -wal file while the daemon ran."""


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
    new_portfolios: bool = False  # a config that changed a portfolio starts new ones
    new_ledger: bool = False  # go on from a ledger that lost committed steps


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
    `wall_clock` is the system clock the scheduler keeps its own time on. Nothing is written
    to the ledger before every check has passed: the lock, the ledger file (ours, not newer,
    not rolled back) and the config against the portfolios it was made for, the strategies,
    the exchange's markets. StoreError: a user error; StorageFault: the storage failed."""
    options = options or DaemonOptions()
    try:
        with DatabaseLock(settings.store.path) as lock:
            settings = preflight(settings, lock, options)
            # StrategyLoadError before any write; an experiment's `timeframe` key wins
            timeframes = {build_for(settings, e).timeframe for e in settings.experiments}
            timeframes |= set(options.extra_timeframes)
            feed = connect(settings.exchange, sorted(timeframes), clock)
            try:
                engine = build_engine(settings, markets=feed.markets)
                return _run(settings, clock, feed, engine, lock, options, wall_clock)
            finally:
                gc.unfreeze()
                feed.close()
    except STORAGE_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno not in _STORAGE_ERRNOS:
            raise  # e.g. a network error: not the storage's
        raise StorageFault(f"{settings.store.path}: storage failed ({_reason(exc)})") from exc


def _run(
    settings: Settings,
    clock: Clock,
    feed: Feed,
    engine: Engine,
    lock: DatabaseLock,
    options: DaemonOptions,
    wall_clock: Clock,
) -> str:
    with open_store(settings) as store:
        if options.exchange_clock:
            clock = _ExchangeClock(feed, clock)
        session = Session(store, engine, LIVE_KEY)
        resumed = session.resume()
        if resumed:
            _resume_cursors(store, engine, feed)
        run_id = store.start_run(
            clock.now(),
            options.mode,
            settings.exchange.id,
            redacted_config(settings),  # secrets masked (issue 15 point 7)
            __version__,
        )
        # Each strategy's warm-up bars from the exchange, then what the ledger recorded.
        warm_up_histories(store, engine, feed, clock.now(), resumed)
        freeze_startup_objects()
        if options.report:
            catch_up_reports(settings, clock.now())  # the daily reports missed while down
        failures: list[StepFailed] = []
        # Funding beyond the exchange's caps and implausible candles never reach the engine.
        screen = CandleScreen(
            settings.exchange.max_jump_pct, refetch=feed, funding_caps=feed.funding_caps()
        )
        poll = _poller(session, feed, clock, options, screen, failures, guard=lock)
        run_jobs(
            poll,
            settings.exchange.poll_seconds,
            _reporter(settings, clock) if options.report else None,
            settings.report.time,
            settings.report.timezone,
            maintenance=retention_job(settings),
            wall_clock=wall_clock,
        )
        if failures and isinstance(failures[0], StorageLost):
            raise failures[0]  # the file open is no longer the ledger: write nothing more
        try:
            store.end_run(run_id, clock.now())
        except STORAGE_ERRORS:
            if not failures:
                raise
        if failures:
            raise failures[0]
        line = summary_line(
            session.stats, [feed.summary(), screen.summary(), strategy_summary(engine)]
        )
        logger.info("run summary: {}", line)
        return line


def preflight(settings: Settings, lock: DatabaseLock, options: DaemonOptions) -> Settings:
    """Check the locked ledger against the config without writing to it; the settings to run
    with (experiments renamed to their current generation in the ledger)."""
    ledger = inspect_ledger(lock.database)
    check_resume_point(ledger, lock.marker, options.new_ledger)
    renames = check_identity(portfolio_rows(settings), ledger, options.new_portfolios)
    for old, new in renames.items():
        logger.info("experiment {} runs as {} in this ledger", old, new)
    return rename_experiments(settings, renames)


def check_resume_point(ledger: LedgerFile, marker: str | None, new_ledger: bool) -> None:
    """StorageFault when the ledger lost committed steps: the run marker beside it says steps
    were committed up to `marker` but the ledger resumes from earlier or not at all."""
    path, resume = ledger.path, ledger.resume_at
    problem = None
    if marker is not None and ledger.new:
        problem = f"{path}: no ledger, but steps were committed to one up to {marker}"
    elif marker is not None and (resume is None or resume < marker):
        problem = (
            f"{path}: the ledger resumes from {resume or 'nothing'} but steps were committed "
            f"up to {marker} (its -wal file lost?)"
        )
    elif resume is None and ledger.live_runs and ledger.nav_rows:
        problem = f"{path}: {ledger.live_runs} runs and NAV rows but no resume point"
    if problem is None:
        return
    if not new_ledger:
        raise StorageFault(
            f"{problem}; restore it, or start with --new-ledger to go on from what it holds"
        )
    logger.warning("{}; going on from what it holds (--new-ledger)", problem)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


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
    screen: CandleScreen,
    failures: list[StepFailed],
    guard: DatabaseLock | None = None,
) -> Callable[[], bool]:
    """The poll job; `guard`: the database lock whose file identity is checked before each
    step and whose run marker is moved after each commit."""

    moved_on = _ClockWatch()

    def poll() -> bool:
        try:
            at = clock.now()  # the exchange's clock may fail like any request
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        if not moved_on(at, session.engine.last_at):
            return False  # no time has passed on this clock: nothing can be new
        watch = Stopwatch()
        try:
            update = feed.poll(at)
        except FeedError as exc:
            logger.debug("poll skipped: {}", exc)  # the feed logs one line per failure streak
            return False
        poll_seconds = watch.lap()
        update = screen.screen(update, session.engine.last_quotes)
        lost = None if guard is None else guard.check()
        if lost is not None:
            failures.append(StorageLost(f"{lost}; the daemon stopped before the step at {at}"))
            return True  # nothing more may go to a file that is no longer the ledger
        try:
            session.process(update)
        except Exception as exc:
            # The traceback goes to the log file only (the CLI writes it), never the console.
            failure = StepFailed(
                f"step at {at.isoformat()} failed ({_reason(exc)!r}); nothing of it was "
                "written and the daemon stopped: run it again to resume from the last "
                "committed step"
            )
            failure.__cause__ = exc
            failures.append(failure)
            return True  # stop the scheduler: the engine in memory may be half-moved
        if guard is not None and session.engine.last_at is not None:
            guard.mark(format_time(session.engine.last_at))
        logger.debug(
            "step {}: poll {:.3f}s, engine and ledger {:.3f}s",
            at.isoformat(),
            poll_seconds,
            watch.lap(),
        )
        return options.finished is not None and options.finished(at)

    return poll


class _ClockWatch:
    """Whether a step time is past the last committed one; a clock behind it (an exchange
    clock going backwards) is logged once per streak, and once when it has passed again."""

    def __init__(self) -> None:
        self.behind = False

    def __call__(self, at: datetime, last: datetime | None) -> bool:
        if last is None or at > last:
            if self.behind:
                logger.info("clock past the last committed step again")
            self.behind = False
            return True
        if at < last and not self.behind:
            self.behind = True
            logger.warning(
                "clock at {} is behind the last committed step {}; polls wait until it passes "
                "it (logged once per streak)",
                at.isoformat(),
                last.isoformat(),
            )
        return False


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
