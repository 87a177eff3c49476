"""Ledger maintenance of `ltbot run`: tick retention (`[store] tick_retention_days`).

Nearly all of the ledger's growth is `ticks`: one row per symbol and poll (2 symbols at 15 s:
11,520 rows, ~2.5 MB a day). With `tick_retention_days = N` > 0 the daemon deletes, at start-up
and then every 24 hours, the ticks recorded more than N days before the newest one. Only
`ticks` shrinks: candles, funding rates, fills, fees, NAV, token events, positions, report
metrics and the engine's resume state stay, so reports, `ltbot status` and resumes see the same
ledger (they never read ticks). The price: a recorded session replays exactly (`ltbot replay
--data <db>`) only over its last N days of ticks. SQLite reuses the freed pages, so the file
stops growing; it does not shrink (`VACUUM` with the daemon stopped gives the space back).

The reference time is the newest recorded tick (the daemon's own step clock), so the job needs
no clock of its own, works the same against a sim exchange's clock, and after a long downtime
keeps more rather than less. Deletes go in batches of `BATCH_ROWS`, each its own short
transaction, with a pause between batches: the poll job (another connection) waits at most one
batch for the write lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from loguru import logger

from bot.adapters.sqlite.retention import TickRetention
from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings

BATCH_ROWS = 5_000
PAUSE_SECONDS = 0.2


def prune_ticks(
    store: TickRetention,
    retention_days: int,
    now: datetime,
    batch: int = BATCH_ROWS,
    pause: float = PAUSE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Delete the ticks recorded before `now - retention_days` (none when 0); return how many."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        deleted = store.delete_ticks_before(cutoff, batch)
        total += deleted
        if deleted < batch:
            return total
        sleep(pause)  # let the poll job's transaction in between two batches


def tick_retention_job(settings: Settings) -> int:
    """Scheduler entry point: apply `[store] tick_retention_days` relative to the newest tick.

    Opens its own Store (APScheduler runs jobs in a worker thread and a SQLite connection
    belongs to its thread); logs one line when it deleted something; never raises.
    """
    days = settings.store.tick_retention_days
    try:
        with Store(settings.store.path) as store:
            newest = store.newest_tick_at()
            deleted = 0 if newest is None else prune_ticks(store, days, newest)
        if deleted:
            logger.info(
                "tick retention: {} ticks older than {} days before {} deleted",
                deleted,
                days,
                newest.isoformat() if newest else "",
            )
        return deleted
    except Exception:
        logger.exception("tick retention failed; the daemon carries on")
        return 0


def retention_job(settings: Settings) -> Callable[[], int] | None:
    """The daemon's maintenance job, or None when every tick is kept (the default)."""
    if settings.store.tick_retention_days == 0:
        return None
    return lambda: tick_retention_job(settings)
