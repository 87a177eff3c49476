"""The single-instance lock on a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.lock import DatabaseLock, LockError


def test_second_holder_is_refused_with_the_pid(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from bot.runtime.lock import DatabaseLock; "
            f"l = DatabaseLock(Path({str(db)!r})); l.acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockError, match=f"pid {holder.pid}"):
            DatabaseLock(db).acquire()
    finally:
        holder.kill()
        holder.communicate()
    with DatabaseLock(db):  # the kernel released the dead holder's lock
        pass
