"""The SQLite ledger: the only package that talks to sqlite-utils (bot/adapters/sqlite).

`Store(path)` creates the parent directory, opens the file in WAL mode and applies pending
migrations (idempotent). It is a facade over the three sides of the ledger, each in its own
module: `LedgerWriter` (writer.py: runs, portfolios, engine steps, report metrics; the
`Ledger` port a session writes through), `LedgerQueries` (queries.py: what replay, resume,
reports and the comparison table read) and `TickRetention` (retention.py: maintenance).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlite_utils import Database

from bot.adapters.sqlite.identity import StorageFault, StoreError, check_schema
from bot.adapters.sqlite.migrations import migrations
from bot.adapters.sqlite.queries import LedgerQueries
from bot.adapters.sqlite.retention import TickRetention
from bot.adapters.sqlite.writer import LedgerWriter

__all__ = ["STORAGE_ERRORS", "StorageFault", "Store", "StoreError"]

# What a failing disk or file raises through the store: read-only, full, corrupt, I/O error.
STORAGE_ERRORS = (sqlite3.Error, OSError)


class Store(LedgerWriter, LedgerQueries, TickRetention):
    """The ledger database. Use as a context manager or call `close()`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        db = _open(self.path)
        migrations.apply(db)
        super().__init__(db)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self.db.close()

    def use_scratch_mode(self) -> None:
        """Trade durability for speed: only for a database rebuilt from scratch on every run.

        `ltbot replay` empties its database before each run and can always write it again, so
        nothing is fsynced. The WAL journal stays: a killed process (SIGKILL, Ctrl-C) still
        leaves a consistent file that the next replay can open and wipe; only an OS crash or a
        power cut during the run may leave it unusable. (An in-memory journal saved another
        ~1 % of the 5m replay but a killed replay could corrupt the file.) Never for a live
        ledger: its resume relies on every committed step being durable.
        """
        self.db.execute("PRAGMA synchronous=OFF")

    @classmethod
    def open_ledger(cls, path: Path | str) -> Store:
        """Open an existing ledger; StoreError when the file is missing or not an ltbot ledger.

        Unlike `Store(path)` it never creates a database, and it checks the file read-only
        before migrations run, so a foreign SQLite file is left untouched.
        """
        target = Path(path)
        with closing(connect_read_only(target)):
            pass  # checked, and closed again before migrations may write
        try:
            return cls(target)
        except STORAGE_ERRORS as exc:
            raise StoreError(f"{target}: cannot open the ledger ({exc})") from None


def _open(path: Path) -> Database:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        # The daemon's poll job runs in a scheduler worker thread (one at a time:
        # max_instances=1), so the connection may be used by a thread other than its creator.
        db = Database(sqlite3.connect(path, check_same_thread=False))
        if new:
            os.chmod(path, 0o600)  # the ledger is private to its owner
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        return db
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
    except Exception as exc:  # sqlite3.DatabaseError for a corrupt or non-SQLite file
        raise StoreError(f"{path}: not a usable SQLite database ({exc})") from None


def connect_read_only(target: Path) -> sqlite3.Connection:
    """A read-only connection (`mode=ro`: nothing is written, migrated or created) to the
    ltbot ledger at `target`; StoreError when the file is missing, not SQLite, foreign or of a
    newer schema than this code."""
    if not target.is_file():
        raise StoreError(f"{target}: no such database")
    uri = target.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        ours = check_schema(target, conn)
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
            "('portfolios', 'nav', '_sqlite_migrations')"
        ).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{target}: not a usable SQLite database ({exc})") from None
    except StoreError:
        conn.close()
        raise
    if not ours or found != 3:
        conn.close()
        raise StoreError(f"{target}: not an ltbot ledger (no portfolios/nav tables)")
    return conn
