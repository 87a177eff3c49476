"""The only APScheduler importer: the poll, daily report and maintenance jobs of `ltbot run`.

Jobs are one-line calls. All use coalesce, max_instances=1 and a bounded misfire grace time,
so a slow exchange never stacks polls. SIGINT/SIGTERM let the running step finish, then the
scheduler stops and `run_jobs` returns. A poll that returns True (data exhausted in a demo)
stops the scheduler too.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger


def run_jobs(
    poll: Callable[[], bool],
    poll_seconds: float,
    report: Callable[[], None] | None = None,
    report_at: time = time(0, 5),
    report_timezone: str = "UTC",
    maintenance: Callable[[], object] | None = None,
    maintenance_every: timedelta = timedelta(days=1),
) -> None:
    """Block running `poll` every `poll_seconds`, `report` daily and `maintenance` at start-up
    and then every `maintenance_every`, until a stop signal."""
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
        next_run_time=datetime.now(UTC),  # first poll at once
    )
    if report is not None:
        trigger = CronTrigger(
            hour=report_at.hour,
            minute=report_at.minute,
            second=report_at.second,
            timezone=report_timezone,
        )
        scheduler.add_job(
            report,
            trigger,
            id="daily_report",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
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
            next_run_time=datetime.now(UTC),  # once at start-up too
        )
    _install_signal_handlers(scheduler)
    logger.info("scheduler started: poll every {}s", poll_seconds)
    scheduler.start()
    logger.info("scheduler stopped")


def _install_signal_handlers(scheduler: BlockingScheduler) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("{} received: finishing the current step", signal.Signals(signum).name)
        if scheduler.running:
            scheduler.shutdown(wait=True)  # waits for the running poll to finish its step

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
