"""Ledger maintenance in SQL: tick retention (policy and schedule: bot/runtime/retention_job.py).

Only `ticks` ever shrinks: candles, funding rates and every ledger table stay, so reports and
resumes are unaffected; a recorded session replays exactly only where its ticks remain.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.adapters.sqlite.timefmt import format_time, parse_time


class TickRetention:
    """Delete old ticks of the ledger database `db`, in short transactions."""

    db: Database

    def newest_tick_at(self) -> datetime | None:
        """Time of the newest recorded tick, if any (the `ticks_at` index: no scan)."""
        row = self.db.conn.execute("SELECT MAX(at) FROM ticks").fetchone()
        return None if row[0] is None else parse_time(row[0])

    def delete_ticks_before(self, before: datetime, limit: int) -> int:
        """Delete at most `limit` of the oldest ticks recorded before `before`, in one short
        transaction; return how many went (fewer than `limit`: none are left before `before`).
        """
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "DELETE FROM ticks WHERE rowid IN "
                "(SELECT rowid FROM ticks WHERE at < ? ORDER BY at LIMIT ?)",
                [format_time(before), limit],
            )
        return int(cursor.rowcount)
