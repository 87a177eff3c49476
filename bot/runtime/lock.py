"""One daemon per database, whatever the path: the lock is on the database file itself.

`DatabaseLock` holds an exclusive, non-blocking `flock` on the database file (resolved through
symlinks), so a symlink or a hard link to a database in use is refused: both name the same
inode. SQLite locks with POSIX record locks, which `flock` does not touch. The kernel drops the
lock when the process dies (even by SIGKILL), so nothing stale can block a restart.

Beside the database, `<database>.lock` holds the holder's pid and the run marker: the time of
the last step the daemon committed. A restart compares it with the ledger's resume point, so a
ledger that lost committed steps (its -wal file removed, the file replaced or deleted) is
noticed instead of silently resumed from earlier or started afresh.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class LockError(RuntimeError):
    """Another process holds the lock (a user error: exit code 2)."""


class DatabaseLock:
    """The lock on `database` and its run marker; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self.database = database.resolve()
        self.path = self.database.with_name(self.database.name + ".lock")
        self.marker: str | None = None  # the last committed step of the previous holder
        self._db_fd: int | None = None
        self._fd: int | None = None
        self._created = False
        self._wal: tuple[int, int] | None = None  # the -wal file's identity, once seen

    def acquire(self) -> None:
        """Take the lock or raise LockError naming the holder's pid (OSError: storage)."""
        self.database.parent.mkdir(parents=True, exist_ok=True)
        self._created = not self.database.exists()
        db_fd = os.open(self.database, os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(db_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(db_fd)
            raise LockError(
                f"{self.database}: in use by another ltbot process (pid {self._holder()})"
            ) from None
        self._db_fd = db_fd
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            self.release()
            raise
        lines = os.read(fd, 256).decode(errors="replace").splitlines()
        self.marker = lines[1] if len(lines) > 1 and lines[1] else None
        self._fd = fd
        self._write(self.marker)

    def identity(self) -> tuple[int, int]:
        """(st_dev, st_ino) of the locked database file."""
        assert self._db_fd is not None
        info = os.fstat(self._db_fd)
        return info.st_dev, info.st_ino

    def check(self) -> str | None:
        """Why the locked file is no longer the database at its path (deleted or replaced),
        or None when it still is."""
        assert self._db_fd is not None
        try:
            info = os.stat(self.database)
        except FileNotFoundError:
            return f"{self.database}: the database file was deleted while in use"
        if (info.st_dev, info.st_ino) != self.identity():
            return f"{self.database}: the database file was replaced while in use"
        return self._check_wal()

    def _check_wal(self) -> str | None:
        # SQLite keeps the -wal file while a connection is open: gone or another file means
        # committed steps not yet checkpointed are lost to the next start.
        try:
            info = os.stat(f"{self.database}-wal")
        except FileNotFoundError:
            if self._wal is None:
                return None
            return f"{self.database}-wal: the write-ahead log was removed while in use"
        if self._wal is None:
            self._wal = (info.st_dev, info.st_ino)
        elif (info.st_dev, info.st_ino) != self._wal:
            return f"{self.database}-wal: the write-ahead log was replaced while in use"
        return None

    def mark(self, step_at: str) -> None:
        """Record `step_at` as the last committed step (after its commit)."""
        self.marker = step_at
        self._write(step_at)

    def release(self) -> None:
        """Drop the lock; a database file the lock created and nobody wrote is removed."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._db_fd is not None:
            if self._created and os.fstat(self._db_fd).st_size == 0:
                self.database.unlink(missing_ok=True)
            fcntl.flock(self._db_fd, fcntl.LOCK_UN)
            os.close(self._db_fd)
            self._db_fd = None

    def _write(self, marker: str | None) -> None:
        assert self._fd is not None
        text = f"{os.getpid()}\n{marker or ''}\n".encode()
        os.pwrite(self._fd, text, 0)
        os.ftruncate(self._fd, len(text))

    def _holder(self) -> str:
        try:
            return self.path.read_text(errors="replace").split("\n", 1)[0].strip() or "unknown"
        except OSError:
            return "unknown"

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
