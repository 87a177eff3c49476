"""Which range of time each run of a ledger covers, and whether it ended as it should.

A run row is stamped `ended_at` only when the run ends as it should: a replay whose data is
exhausted, a daemon stopped by SIGINT/SIGTERM (or the demo's data end). `covered_to` is the time
of the run's last committed step, moved in the same transaction as that step's rows (migration
0007). So a replay killed mid-way (SIGKILL, Ctrl-C, an error) is *partial*: it covers
`started_at`..`covered_to` and no more. A live run without `ended_at` is still running or was
stopped without a clean end (crash-only: the next start resumes from `covered_to`).

`run_coverage(store)` reads them; `coverage_lines(store)` is what `ltbot status` prints and
`coverage_notes(runs, start, end)` what a report says about its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.adapters.sqlite.coverage import RunRow, run_rows
from bot.adapters.sqlite.queries import LedgerQueries


@dataclass(frozen=True, slots=True)
class RunCoverage:
    """One run: its id and mode, when it started, its last committed step and its clean end."""

    run_id: int
    mode: str
    started_at: datetime
    covered_to: datetime | None  # the last committed step (None: none committed)
    ended_at: datetime | None  # None: interrupted (or still running)

    @property
    def complete(self) -> bool:
        """True when the run ended as it should (a replay: its data was exhausted)."""
        return self.ended_at is not None

    @property
    def partial(self) -> bool:
        """True for a replay that stopped before the end of its data."""
        return self.mode == "replay" and not self.complete

    def describe(self) -> str:
        """One line, e.g. `run 1 (replay): PARTIAL, covers 2024-03-01 00:00 to ... UTC (...)`."""
        head = f"run {self.run_id} ({self.mode})"
        start = _minute(self.started_at)
        if self.covered_to is None:
            steps = f"started {start} UTC, no step committed"
        else:
            steps = f"covers {start} to {_minute(self.covered_to)} UTC"
        if self.partial:
            return f"{head}: PARTIAL, {steps} (interrupted before the end of its data)"
        if self.mode == "replay":
            return f"{head}: complete, {steps}"
        if self.ended_at is None:
            return f"{head}: {steps} (still running, or stopped without a clean end)"
        return f"{head}: {steps}, stopped cleanly at {_minute(self.ended_at)} UTC"


def run_coverage(store: LedgerQueries) -> list[RunCoverage]:
    """Every run of the ledger in start order, with the range it covers."""
    return [_coverage(row) for row in run_rows(store.db)]


def coverage_lines(store: LedgerQueries) -> list[str]:
    """What `ltbot status` prints under its table: the latest run, then every other partial
    replay (a replay database holds one run; a live one a run per start)."""
    runs = run_coverage(store)
    if not runs:
        return ["no run recorded in this ledger"]
    latest = runs[-1]
    return [latest.describe()] + [r.describe() for r in runs[:-1] if r.partial]


def coverage_notes(runs: Sequence[RunCoverage], start: datetime, end: datetime) -> list[str]:
    """Notes for a report over (start, end]: the ledger's latest run did not end as it should
    and its last committed step lies before `end` (the window has no data after it)."""
    if not runs:
        return []
    last = runs[-1]
    if last.complete or (last.covered_to is not None and last.covered_to >= end):
        return []
    if last.covered_to is None:
        return [f"The ledger's {last.describe()}."]
    if last.covered_to <= start:
        where = "before this window: it holds no step of the ledger's last run"
    else:
        where = "inside this window: the rest of it has no data"
    return [f"The ledger's {last.describe()}; its coverage ends {where}."]


def _coverage(row: RunRow) -> RunCoverage:
    covered = row.covered_to
    if covered is None and row.mode == "replay":
        covered = row.ended_at  # a replay row stamped before 0007 ended at its last step
    return RunCoverage(row.id, row.mode, row.started_at, covered, row.ended_at)


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
