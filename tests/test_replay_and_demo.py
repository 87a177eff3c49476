"""`ltbot replay` and `ltbot demo` as a user runs them (subprocesses, real files)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.runtime.lock import DatabaseLock
from tests.e2e.harness import ledger

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "bot" / "data" / "sample"


def ltbot(*args: str, cwd: Path = REPO, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def test_packaged_demo_config_is_the_example_config() -> None:
    packaged = REPO / "bot" / "data" / "config.example.toml"
    assert packaged.read_bytes() == (REPO / "config.example.toml").read_bytes()


def test_replay_is_deterministic_and_prints_a_comparison(tmp_path: Path) -> None:
    args = [
        "replay",
        "--data",
        str(SAMPLE),
        "--config",
        str(REPO / "config.example.toml"),
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-04",
    ]
    first = ltbot(*args, "--db", str(tmp_path / "a.db"))
    second = ltbot(*args, "--db", str(tmp_path / "b.db"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "btc-sma" in first.stdout and "token:ftx" in first.stdout
    a, b = ledger(tmp_path / "a.db"), ledger(tmp_path / "b.db")
    assert a["fills"] and a["nav"]
    assert a == b


def test_a_killed_replay_leaves_a_database_the_next_replay_rebuilds(tmp_path: Path) -> None:
    # The replay writes without fsync (scratch mode) but keeps the WAL journal, so a killed
    # process leaves a consistent file, which the next replay wipes and rebuilds.
    db = tmp_path / "replay.db"
    args = ["replay", "--data", str(SAMPLE), "--config", str(REPO / "config.example.toml")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args, "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while not _has_steps(db) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the replay ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Marked partial: never ended, covered up to its last committed group.
        [(ended, covered)] = con.execute("SELECT ended_at, covered_to FROM runs").fetchall()
        assert ended is None and covered is not None
    again = ltbot(*args, "--db", str(db), "--from", "2024-03-01", "--to", "2024-03-03")
    assert again.returncode == 0, again.stderr
    assert ledger(db)["nav"]


def _has_steps(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return bool(con.execute("SELECT count(*) FROM ticks").fetchone()[0])
    except sqlite3.Error:
        return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/no/such/dir"], "no such data directory or database"),
        (["--data", str(SAMPLE), "--from", "2024-13-01"], "--from: expected YYYY-MM-DD"),
        (["--data", str(SAMPLE), "--from", "2024-03-05", "--to", "2024-03-01"], "is before --from"),
        (["--data", str(SAMPLE), "--from", "2030-01-01"], "no futures candles for BTC"),
    ],
)
def test_replay_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = ltbot(
        "replay",
        "--config",
        str(REPO / "config.example.toml"),
        "--db",
        str(tmp_path / "r.db"),
        *args,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_replay_refuses_to_overwrite_a_live_ledger(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.adapters.sqlite.store import Store

    db = tmp_path / "live.db"
    with Store(db) as store:
        store.start_run(datetime(2024, 1, 1, tzinfo=UTC), "live", "binanceusdm", {}, "0")
    before = db.read_bytes()
    result = ltbot(
        "replay",
        "--config",
        str(REPO / "config.example.toml"),
        "--data",
        str(SAMPLE),
        "--db",
        str(db),
    )
    assert result.returncode == 2 and "holds live runs" in result.stderr
    assert db.read_bytes() == before


def test_run_refuses_a_database_in_use(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    config.write_text(
        text.replace('path = "data/ltbot.db"', f'path = "{tmp_path / "l.db"}"'), encoding="utf-8"
    )
    with DatabaseLock(tmp_path / "l.db"):
        result = ltbot("run", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert "in use by another ltbot process" in result.stderr


@pytest.mark.slow
def test_demo_runs_offline_and_reports(tmp_path: Path) -> None:
    result = ltbot(
        "--log-level",
        "WARNING",
        "demo",
        "--days",
        "3",
        "--seconds",
        "8",
        "--out",
        str(tmp_path / "reports"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "btc-hold" in result.stdout and "Who won" in result.stdout
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".html", ".md"]
