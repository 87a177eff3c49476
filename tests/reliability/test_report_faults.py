"""Reports and replays killed mid-way (issue 15.5), as an outsider kills them: real processes,
real files, real SQLite.

- A report job SIGKILLed while it writes leaves no partial file under a report's name, no
  metrics for the day, and the next catch-up writes the day whole.
- A replay SIGKILLed mid-way leaves a run row marked partial (no `ended_at`) whose
  `covered_to` is its last committed step, and `ltbot report` says where its data ends; a
  replay that runs to the end of its data is complete.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.reports.coverage import run_coverage
from bot.reports.job import catch_up_reports
from tests.reports.report_ledger import write_fixed_ledger

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"
CONFIG = REPO / "config.example.toml"

# Writes the 2024-01-01 report and SIGKILLs itself at `point`: inside the .md's fsync (the
# temporary file half-written) or at the .html's rename (the .md done, the .html written aside).
_KILLED_REPORT = """
import os, signal, sys
from datetime import date
from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.reports.job import run_daily_report

db, out, point = sys.argv[1:]
real_fsync, real_replace = os.fsync, os.replace

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def fsync(fd):
    if point == "md-fsync" and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
        die()
    real_fsync(fd)

def replace(src, dst):
    if point == "html-rename" and str(dst).endswith(".html"):
        die()
    real_replace(src, dst)

os.fsync, os.replace = fsync, replace
settings = Settings(report={"out_dir": out}, store={"path": db})
with Store(db) as store:
    run_daily_report(store, settings, date(2024, 1, 1))
"""


def _ltbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("point", "left"),
    [("md-fsync", []), ("html-rename", ["2024-01-01.md"])],
)
def test_a_report_killed_mid_write_leaves_no_partial_file(
    tmp_path: Path, point: str, left: list[str]
) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "reports"
    with Store(db) as store:
        write_fixed_ledger(store)
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_REPORT, str(db), str(out), point],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if not n.startswith(".")] == left
    assert all(n.endswith(".tmp") for n in names if n.startswith("."))  # set aside, not a report
    with Store(db) as store:
        assert store.count("report_metrics") == 0  # the day is not marked as reported

    settings = Settings(report={"out_dir": out}, store={"path": db})
    written = catch_up_reports(settings, datetime(2024, 1, 2, 6, tzinfo=UTC), notify=False)

    assert date(2024, 1, 1) in written
    assert "2024-01-01.html" in {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temporary files swept
    md = (out / "2024-01-01.md").read_text(encoding="utf-8")
    assert md.startswith("# ltbot report 2024-01-01") and md.endswith("\n")


def _covered(db: Path) -> str | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute("SELECT covered_to FROM runs").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]


def test_a_killed_replay_is_marked_partial_with_the_range_it_covers(tmp_path: Path) -> None:
    db = tmp_path / "replay.db"
    args = ["replay", "--data", str(SAMPLE), "--config", str(CONFIG), "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while _covered(db) is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the replay ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    with sqlite3.connect(db) as con:
        [(started, ended, covered)] = con.execute(
            "SELECT started_at, ended_at, covered_to FROM runs"
        ).fetchall()
        [(resume_at,)] = con.execute("SELECT at FROM engine_state WHERE key = 'replay'")
        [(last_nav,)] = con.execute("SELECT max(at) FROM nav")
    assert ended is None  # never marked complete
    assert started < covered == resume_at  # the last committed group, in its transaction
    assert last_nav <= covered
    with Store.open_ledger(db) as store:
        [run] = run_coverage(store)
    assert run.partial and run.covered_to is not None
    assert run.describe().startswith("run 1 (replay): PARTIAL, covers ")

    # `ltbot report` on the day after the last committed step: no data there (exit 2, issue
    # 17 point 4), and its one line says where the data ends.
    day = (run.covered_to + timedelta(days=1)).date().isoformat()
    env = {"LTBOT_REPORT__OUT_DIR": str(tmp_path / "reports")}
    shown = _ltbot(
        "report", "--config", str(CONFIG), "--db", str(db), "--date", day, "--format", "md",
        env=env,
    )  # fmt: skip
    assert shown.returncode == 2, shown.stderr
    assert len(shown.stderr.splitlines()) == 1
    assert shown.stderr.rstrip().endswith(f"; latest {run.describe()}")


def test_a_replay_to_the_end_of_its_data_is_complete(tmp_path: Path) -> None:
    db = tmp_path / "replay.db"
    done = _ltbot(
        "replay", "--data", str(SAMPLE), "--config", str(CONFIG), "--db", str(db),
        "--from", "2024-03-01", "--to", "2024-03-01",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Store.open_ledger(db) as store:
        [run] = run_coverage(store)
        [(last_nav,)] = store.db.execute("SELECT max(at) FROM nav").fetchall()
    # Steps are at candle closes: the last one is 2024-03-02 00:00, the close of the day.
    assert run.complete and run.covered_to == run.ended_at == datetime(2024, 3, 2, tzinfo=UTC)
    assert last_nav == "2024-03-02T00:00:00.000Z"
    assert run.describe() == (
        "run 1 (replay): complete, covers 2024-03-01 00:05 to 2024-03-02 00:00 UTC"
    )
