"""Issue 15 points 3 and 4, as an outsider would cause them: the real daemon (`ltbot run
--clock exchange`) against the sim exchange, real SQLite files.

One daemon per database whatever the path (a symlink or a hard link is refused with exit 2);
a database deleted while in use or a -wal file removed after a SIGKILL stops the daemon or
refuses the restart with exit 1 and one line, never a fresh ledger; a full disk, a read-only
directory and a corrupt file give one line (exit 1 for `run`, 2 for `status`/`report`), the
traceback going to the log only; in each case no committed row is lost.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, step_times
from tests.e2e.harness import ledger as ledger_rows
from tests.storage_kit import (
    EVERY,
    console_lines,
    dump,
    ltbot,
    run_steps,
    start,
    write_config,
)


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def _time(sim: SimExchange, index: int) -> object:
    return step_times(sim.data_start + timedelta(hours=1), index + 1, EVERY)[index]


def _one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Traceback" not in text
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_second_daemon_through_another_path_is_refused(
    sim: SimExchange, tmp_path: Path, link: str
) -> None:
    # Arrange: a daemon runs on ledger.db; another path names the same file
    db = tmp_path / "ledger.db"
    daemon = run_steps(sim, write_config(tmp_path, sim.url), db, 2)
    other = tmp_path / "other" / "alias.db"
    other.parent.mkdir()
    if link == "symlink":
        other.symlink_to(db)
    else:
        os.link(db, other)
    before = ledger_rows(db)

    # Act
    try:
        result = start(write_config(other.parent, sim.url, other))
    finally:
        assert daemon.stop() == 0

    # Assert
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert "in use by another ltbot process" in line
    if link == "symlink":
        assert f"(pid {daemon.process.pid})" in line  # type: ignore[union-attr]
    assert ledger_rows(db) == before


def test_a_database_deleted_while_running_stops_the_daemon_and_the_restart(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    daemon = run_steps(sim, config, db, 3)
    log_before = daemon.log.read_text()

    # Act: delete it, move the clock on; then start again
    db.unlink()
    sim.set_time(_time(sim, 3))  # type: ignore[arg-type]
    assert daemon.process is not None
    code = daemon.process.wait(timeout=30)
    restart = start(config)

    # Assert
    assert code == 1
    line = _one_error_line(daemon.log.read_text()[len(log_before) :])
    assert line.startswith(f"error: {db}: the database file was deleted while in use")
    assert restart.returncode == 1
    restart_line = _one_error_line(restart.stderr)
    assert f"error: {db}: no ledger, but steps were committed to one up to" in restart_line
    assert "--new-ledger" in restart_line
    assert not db.exists()  # no fresh ledger in its place


def test_a_database_replaced_while_running_stops_the_daemon(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: a copy of the database file (without what its -wal file holds) moved over it
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    daemon = run_steps(sim, config, db, 3)
    log_before = daemon.log.read_text()
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)

    # Act
    copy.replace(db)
    sim.set_time(_time(sim, 3))  # type: ignore[arg-type]
    assert daemon.process is not None
    code = daemon.process.wait(timeout=30)

    # Assert: the step was not written to the file it no longer is
    assert code == 1
    line = _one_error_line(daemon.log.read_text()[len(log_before) :])
    assert line.startswith(f"error: {db}: the database file was replaced while in use")


def test_a_removed_wal_after_sigkill_refuses_the_restart(sim: SimExchange, tmp_path: Path) -> None:
    # Arrange: two steps in the database file, two more in its -wal file; SIGKILL; rm -wal
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    assert run_steps(sim, config, db, 2).stop() == 0
    _checkpoint(db)
    daemon = run_steps(sim, config, db, 2, 2)
    daemon.kill()
    wal = Path(f"{db}-wal")
    assert wal.stat().st_size > 0
    wal.unlink()
    Path(f"{db}-shm").unlink(missing_ok=True)
    before = _dump_copy(db)

    # Act
    refused = start(config)
    after_refusal = _dump_copy(db)
    resumed = Daemon(config, tmp_path / "resumed.log", flags=("--new-ledger",))
    resumed.start()
    _wait_for_text(resumed.log, "going on from what it holds (--new-ledger)")

    # Assert
    assert refused.returncode == 1
    line = _one_error_line(refused.stderr)
    assert line.startswith(f"error: {db}: the ledger resumes from 2024-")
    assert "but steps were committed up to 2024-" in line and "--new-ledger" in line
    assert after_refusal == before
    assert resumed.alive() and resumed.stop() == 0  # asked for: goes on from what it holds


def _wait_for_text(log: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not logged in 30 s")


def _dump_copy(db: Path) -> list[str]:
    # Read through a copy: this process's SQLite may still know the -shm just removed.
    copy = db.with_name(f"copy-{db.name}")
    shutil.copyfile(db, copy)
    try:
        return dump(copy)
    finally:
        copy.unlink()


def _checkpoint(db: Path) -> None:
    # Everything committed into the database file itself, the -wal file emptied.
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def test_a_full_disk_stops_with_one_line_and_loses_nothing(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: a ledger, then a restart whose files may not grow past 64 KiB (EFBIG, as a
    # full disk gives: SQLITE_FULL)
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    assert run_steps(sim, config, db, 3).stop() == 0
    before = ledger_rows(db)
    sim.set_time(_time(sim, 3))  # type: ignore[arg-type]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    # Act
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--clock", "exchange"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    _, stderr = process.communicate(timeout=60)

    # Assert
    assert process.returncode == 1
    line = _one_error_line(stderr)
    assert "full" in line
    assert ledger_rows(db) == before


def _corrupt(db: Path) -> None:
    # Every page but the first (the schema) overwritten: a b-tree SQLite cannot read.
    data = bytearray(db.read_bytes())
    page = 4096
    data[page:] = b"\xde\xad\xbe\xef" * ((len(data) - page) // 4)
    db.write_bytes(bytes(data))


def test_a_corrupt_ledger_gives_one_line_from_run_status_and_report(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    assert run_steps(sim, config, db, 2).stop() == 0
    _checkpoint(db)
    _corrupt(db)
    before = db.read_bytes()

    # Act
    run = start(config)
    status = ltbot("status", "--db", str(db))
    report = ltbot("report", "--config", str(config), "--date", "2024-01-01")

    # Assert
    assert run.returncode == 1
    assert "malformed" in _one_error_line(run.stderr)
    for outcome in (status, report):
        assert outcome.returncode == 2
        _one_error_line(outcome.stderr)
    assert db.read_bytes() == before


def _read_only(paths: list[Path]) -> Callable[[], None]:
    """Make `paths` read-only even for root (which writes through modes): the immutable
    attribute (chattr +i, ext4 and xfs) when running as root, else modes; returns the undo."""
    if os.geteuid() != 0:
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)

        def restore_modes() -> None:
            for p, mode in modes.items():
                p.chmod(mode)

        return restore_modes
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: nothing makes a file read-only for root")
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i refused here: {done.stderr.decode().strip()}")

    def mutable_again() -> None:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)

    return mutable_again


def test_a_read_only_directory_gives_one_line(sim: SimExchange, tmp_path: Path) -> None:
    # Arrange
    directory = tmp_path / "ro"
    directory.mkdir()
    db = directory / "ledger.db"
    config = write_config(directory, sim.url)
    assert run_steps(sim, config, db, 2).stop() == 0
    before = ledger_rows(db)
    undo = _read_only([p for p in directory.iterdir() if p.name.startswith("ledger.db")])
    undo_dir = _read_only([directory])

    # Act
    try:
        run = start(config)
        status = ltbot("status", "--db", str(db))
    finally:
        undo_dir()
        undo()

    # Assert
    assert run.returncode == 1 and status.returncode in (0, 2)
    _one_error_line(run.stderr)
    assert ledger_rows(db) == before
    assert console_lines(status) == [] or len(console_lines(status)) == 1
