"""The only APScheduler importer: the poll, daily report and maintenance jobs of `ltbot run`.

Jobs are one-line calls. All use coalesce, max_instances=1 and a bounded misfire grace time,
so a slow exchange never stacks polls. SIGINT/SIGTERM let the running step finish, then the
scheduler stops and `run_jobs` returns. A poll that returns True (data exhausted in a demo)
stops the scheduler too.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, time, timedelta
from types import FrameType

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from bot.engine.ports import Clock


def run_jobs(
    poll: Callable[[], bool],
    poll_seconds: float,
    report: Callable[[], None] | None = None,
    report_at: time = time(0, 5),
    report_timezone: str = "UTC",
    maintenance: Callable[[], object] | None = None,
    maintenance_every: timedelta = timedelta(days=1),
    *,
    wall_clock: Clock,
) -> None:
    """Block running `poll` every `poll_seconds`, `report` daily and `maintenance` at start-up
    and then every `maintenance_every`, until a stop signal.

    APScheduler keeps its own time on the wall clock, whatever clock the jobs step on (a sim
    exchange's, in the demo); `wall_clock` (the system clock) says when "at once" is."""
    start = wall_clock.now()
    # APScheduler logs through stdlib logging; "skipped: maximum number of running instances"
    # is the intended coalescing of a slow poll, not a problem, so only errors pass.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = BlockingScheduler(timezone=UTC)

    def poll_job() -> None:
        if poll():
            # Last statement of the job: the step is written, so no need to wait for it.
            scheduler.shutdown(wait=False)

    scheduler.add_job(
        poll_job,
        IntervalTrigger(seconds=poll_seconds, timezone=UTC),
        id="poll",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(1, int(poll_seconds)),
        next_run_time=start,  # first poll at once
    )
    if report is not None:
        _add_daily_report(scheduler, report, report_at, report_timezone)
    if maintenance is not None:
        # Tick retention: in its own worker thread beside the poll job; it deletes in short
        # transactions, so a poll waits at most one batch for the write lock.
        scheduler.add_job(
            maintenance,
            IntervalTrigger(seconds=maintenance_every.total_seconds(), timezone=UTC),
            id="maintenance",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
            next_run_time=start,  # once at start-up too
        )
    stoppers = _install_signal_handlers(scheduler)
    logger.info("scheduler started: poll every {}s", poll_seconds)
    scheduler.start()
    for stopper in stoppers:
        stopper.join()  # the running step has finished: the shutdown waited for it
    logger.info("scheduler stopped")


def _add_daily_report(
    scheduler: BlockingScheduler, report: Callable[[], None], at: time, timezone: str
) -> None:
    # A missed report (the daemon was down at `at`) still runs within the hour.
    trigger = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=timezone)
    scheduler.add_job(
        report,
        trigger,
        id="daily_report",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )


def _install_signal_handlers(scheduler: BlockingScheduler) -> list[threading.Thread]:
    # A signal interrupts the main thread anywhere, even while it holds the job executor's or
    # the logger's lock (submitting the next poll, say): shutting the scheduler down inside the
    # handler then waits on that lock forever (a daemon was found ignoring SIGTERM so). The
    # handler hands the shutdown to a thread, which runs once the main thread lets go.
    stoppers: list[threading.Thread] = []

    def stop(signum: int) -> None:
        logger.info("{} received: finishing the current step", signal.Signals(signum).name)
        # A second signal, or a run that already ended, finds it stopped.
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=True)  # waits for the running poll to finish its step

    def handler(signum: int, frame: FrameType | None) -> None:
        stopper = threading.Thread(target=stop, args=(signum,), name="ltbot-stop", daemon=True)
        stoppers.append(stopper)
        stopper.start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stoppers
