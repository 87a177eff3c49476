"""The ledger opened read-only, for readers that run beside the daemon (`ltbot serve`).

SQLite's `mode=ro` never writes, migrates or creates anything, and in WAL mode a reader never
blocks the writer nor sees a half-committed step: each read transaction sees the ledger as of
one committed step. One connection per use (`with ReadOnlyLedger(path) as ledger: ...`), so a
web server's worker threads never share one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.adapters.sqlite.queries import LedgerQueries
from bot.adapters.sqlite.store import connect_read_only
from bot.adapters.sqlite.timefmt import parse_time


class ReadOnlyLedger(LedgerQueries):
    """Every read of `LedgerQueries` over a read-only connection; StoreError when `path` is
    not an ltbot ledger (missing, not SQLite, no portfolios/nav tables)."""

    def __init__(self, path: Path | str) -> None:
        self.db = Database(connect_read_only(Path(path)))

    def __enter__(self) -> ReadOnlyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.conn.close()

    def last_step(self) -> datetime | None:
        """The time of the last committed step (the engine state saved with it; a ledger
        without one: its latest NAV row), or None."""
        sql = "SELECT COALESCE((SELECT MAX(at) FROM engine_state), (SELECT MAX(at) FROM nav)) AS at"
        row = next(iter(self.db.query(sql)))
        return None if row["at"] is None else parse_time(row["at"])

    def nav_series(self, portfolio_id: str, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` NAV rows of a portfolio, oldest first (`at` as ledger text)."""
        rows = self.db.query(
            "SELECT at, nav, exposure, leverage FROM nav WHERE portfolio_id = ? "
            "ORDER BY at DESC LIMIT ?",
            [portfolio_id, limit],
        )
        return list(reversed([dict(r) for r in rows]))
