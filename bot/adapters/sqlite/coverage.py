"""What the ledger covers: its runs' ranges, the span of its NAV rows and the days reported.

Small reads for `ltbot status`, the report notes and the report catch-up
(bot/reports/coverage.py, bot/reports/job.py). Each takes the ledger's `Database`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bot.adapters.sqlite.timefmt import parse_time

_DAY_LABEL = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class RunRow:
    """A `runs` row's identity and range (migration 0007 says what each column means)."""

    id: int
    mode: str
    started_at: datetime
    ended_at: datetime | None
    covered_to: datetime | None


def run_rows(db: Database) -> list[RunRow]:
    """Every run in id order (start order)."""
    sql = "SELECT id, mode, started_at, ended_at, covered_to FROM runs ORDER BY id"
    return [
        RunRow(
            int(row["id"]),
            str(row["mode"]),
            parse_time(row["started_at"]),
            _opt_time(row["ended_at"]),
            _opt_time(row["covered_to"]),
        )
        for row in db.query(sql)
    ]


def nav_span(db: Database) -> tuple[datetime, datetime] | None:
    """The first and the last NAV row's time (None: no NAV row yet)."""
    [row] = db.query("SELECT min(at) AS first, max(at) AS last FROM nav")
    if row["first"] is None:
        return None
    return parse_time(row["first"]), parse_time(row["last"])


def reported_days(db: Database) -> list[str]:
    """Labels (`YYYY-MM-DD`) of the single-day periods with stored report metrics, sorted."""
    labels = (str(r["period"]) for r in db.query("SELECT DISTINCT period FROM report_metrics"))
    return sorted(label for label in labels if _DAY_LABEL.match(label))


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
