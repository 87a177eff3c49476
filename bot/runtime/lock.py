"""A single-instance lock on the database: a second daemon on the same ledger is refused."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class LockError(RuntimeError):
    """Another process holds the lock (a user error: exit code 2)."""


class DatabaseLock:
    """An exclusive, non-blocking `flock` on `<database>.lock`, released on exit or crash.

    The kernel drops the lock when the process dies (even by SIGKILL), so no stale lock file
    can block a restart.
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise LockError naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockError(
                f"{self.path.with_suffix('')}: in use by another ltbot process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
