"""The study file: a SQLite database of study results (`ltbot study`), one per study config.

Tables: `study` (key, value: the config fingerprint, the config as JSON, the ltbot version),
`cells` (one row per completed cell: what it was, its market regime, its step count) and
`results` (one row per completed cell x vehicle: the metrics). The caller names the columns
and their SQLite types, so this module knows nothing of the metrics. A completed task's cells
and results go in one transaction: a killed study keeps every task it finished and none of
the one it was in. Times are ISO 8601 UTC text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.adapters.sqlite.identity import StoreError

Columns = Mapping[str, type]


class StudyStore:
    """Open (or create) a study file. Use as a context manager or call `close()`."""

    def __init__(self, path: Path, cell_columns: Columns, result_columns: Columns) -> None:
        """Create the tables when missing, with the given columns (name -> str/int/float)."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = Database(sqlite3.connect(path))
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            tables = self.db.table_names()
            if tables and "study" not in tables:
                self.db.close()
                raise StoreError(f"{path}: not a study file (it has tables {', '.join(tables)})")
            if not tables:
                self._create(cell_columns, result_columns)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the study file: {exc.strerror}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a usable SQLite database ({exc})") from None

    def _create(self, cell_columns: Columns, result_columns: Columns) -> None:
        with self.db.conn:
            self.db.table("study").create({"key": str, "value": str}, pk="key")
            self.db.table("cells").create({"id": str, **cell_columns}, pk="id")
            self.db.table("results").create(
                {"cell_id": str, "vehicle": str, **result_columns}, pk=("cell_id", "vehicle")
            )

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def meta(self) -> dict[str, str]:
        """The `study` table as a dict (empty for a new file)."""
        return {str(r["key"]): str(r["value"]) for r in self.db.table("study").rows}

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Write `study` rows (one transaction)."""
        with self.db.conn:
            self.db.table("study").upsert_all(
                [{"key": k, "value": v} for k, v in values.items()], pk="key"
            )

    def clear(self) -> None:
        """Delete every cell, result and `study` row (a new study in the same file)."""
        with self.db.conn:
            self.db.execute("DELETE FROM results")
            self.db.execute("DELETE FROM cells")
            self.db.execute("DELETE FROM study")

    def done(self) -> set[str]:
        """Ids of the cells already completed."""
        return {str(row[0]) for row in self.db.execute("SELECT id FROM cells").fetchall()}

    def write_task(
        self, cells: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]
    ) -> None:
        """Write one completed task's cells and results in one transaction."""
        # atomic(), not `with conn:`: each insert_all commits its own BEGIN otherwise, and a
        # SIGKILL between the two left cells without their results
        with self.db.atomic():
            self.db.table("cells").insert_all([dict(c) for c in cells], replace=True)
            self.db.table("results").insert_all([dict(r) for r in results], replace=True)

    def rows(self, table: str) -> Iterable[dict[str, Any]]:
        """Rows of `cells` or `results`, in primary-key order."""
        order = {"cells": "id", "results": "cell_id, vehicle"}[table]
        return self.db.table(table).rows_where(order_by=order)
