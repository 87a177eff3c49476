"""`ltbot run` (and the demo): poll, step, write; resume after any restart.

Crash-only: start-up is recovery. The engine state saved with the last committed step is
restored, strategy histories are rebuilt from the recorded candles, and the feed continues its
candle cursors from the store, so timed events missed while down are caught up from the first
poll's candles and funding history, in order, never twice.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from loguru import logger

from bot import __version__
from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.config.strategy_loader import resolve
from bot.engine.bars import timeframe_seconds
from bot.engine.engine import Engine
from bot.engine.validation import implausible_candles
from bot.reports.job import daily_report_job
from bot.runtime.lock import DatabaseLock
from bot.runtime.maintenance import retention_job
from bot.runtime.ports import Clock, FeedError, MarketUpdate
from bot.runtime.scheduler import run_jobs
from bot.runtime.session import Session, summary_line
from bot.runtime.wiring import build_engine, open_store

LIVE_KEY = "live"


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
    session: Session,
    feed: CcxtFeed,
    clock: Clock,
    options: DaemonOptions,
    max_jump_pct: float,
    failures: list[StepFailed],
) -> Callable[[], bool]:
    screen = CandleScreen(max_jump_pct)

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
        update = screen.screen(update, session.engine, feed)
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
            polled - started,
            time.perf_counter() - polled,
        )
        return options.finished is not None and options.finished(at)

    return poll


class CandleScreen:
    """Hold back live candles whose prices are absurd next to the accepted quotes.

    For each symbol with an implausible candle, that candle and every candle of the symbol
    closing after it opened (its later ones, and those of its other timeframes) are dropped
    from the update and the feed's cursors are moved back to them, so the next poll fetches
    them again: nothing is lost, nothing absurd reaches the strategy or the ledger.
    The rest of the update (quotes, other series, funding) goes on. One WARNING per streak,
    one INFO when candles pass again. After `max_held` polls in a row they pass anyway, with
    a WARNING, so a real move the quotes have not confirmed yet cannot stall the strategies.
    """

    def __init__(self, max_jump_pct: float, max_held: int = 20) -> None:
        self.max_jump_pct = max_jump_pct
        self.max_held = max_held
        self.held = 0

    def screen(self, update: MarketUpdate, engine: Engine, feed: CcxtFeed) -> MarketUpdate:
        """The update without implausible candles (and the later candles of their series)."""
        bad = implausible_candles(
            update.candles, engine.last_quotes, update.quotes, self.max_jump_pct
        )
        if not bad:
            if self.held:
                logger.info("candles plausible again after {} polls held back", self.held)
            self.held = 0
            return update
        if self.held >= self.max_held:
            logger.warning(
                "{} candles accepted after {} polls held back: the move persists",
                len(bad),
                self.held,
            )
            self.held = 0
            return update
        if self.held == 0:
            first = bad[0]
            logger.warning(
                "{} {} candle at {} implausible (close {:g}); held back and fetched again "
                "(logged once per streak)",
                first.symbol,
                first.timeframe,
                first.at.isoformat(),
                first.close,
            )
        self.held += 1
        # A symbol's series stay in step: from the first implausible candle on, every candle
        # of its symbol that closes after it opened is held back too (a coarser strategy bar
        # must not arrive without the finer candles it may be built from, or the reverse).
        since: dict[str, datetime] = {}
        for c in bad:
            since[c.symbol] = min(since.get(c.symbol, c.at), c.at)
        cut: dict[tuple[str, str], datetime] = {}
        kept = []
        for c in update.candles:
            start = since.get(c.symbol)
            if (
                start is not None
                and c.at + timedelta(seconds=timeframe_seconds(c.timeframe)) > start
            ):
                key = (c.symbol, c.timeframe)
                cut[key] = min(cut.get(key, c.at), c.at)
            else:
                kept.append(c)
        for (symbol, tf), at in cut.items():
            feed.resume_candles(symbol, tf, at - timedelta(seconds=timeframe_seconds(tf)))
        return replace(update, candles=tuple(kept))


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


def rebuild_histories(store: Store, engine: Engine) -> None:
    """Refill each strategy's bar history (and its own state) from the recorded candles."""
    for slot in engine.experiments:
        tf = slot.aggregator.timeframe
        engine.replay_history(slot.name, store.iter_candles(slot.symbol, tf, end=engine.last_at))


def _resume_cursors(store: Store, engine: Engine, feed: CcxtFeed) -> None:
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
