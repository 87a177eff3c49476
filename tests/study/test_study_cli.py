"""`ltbot study run` / `report` through the real app: bad input, resume, no-op, refusal."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.study.kit import study_doc, write_toml
from tests.study.test_executors import results_dump


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["study", *args])
    return result.exit_code, result.stdout, result.stderr


# A local pool of 2 worker processes, and a Dask LocalCluster of 2.
ON_WORKERS = pytest.mark.parametrize(
    "args", [["--workers", "2"], ["--cluster", "local", "--workers", "2"]], ids=["pool", "dask"]
)


def _dask_if_asked(args: list[str]) -> None:
    if "--cluster" in args:
        pytest.importorskip("distributed")


def config_file(tmp_path: Path, name: str = "study.toml", **changes: object) -> Path:
    return write_toml(tmp_path / name, study_doc(tmp_path / "study.db", **changes))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vehicles": [{"use": "token:nope"}]}, "error: vehicles[0]: 'token:nope': unknown preset"),
        (
            {"windows": {"length_days": 60, "step_days": 7}},
            "error: windows: no 60-day window fits in the data of BTC/USDT:USDT",
        ),  # fmt: skip
        (
            {"windows": {"ranges": [["2024-04-10", "2024-04-20"]]}},
            "error: windows: 2024-04-10..2024-04-20 is outside the data of BTC/USDT:USDT",
        ),  # fmt: skip
        (
            {"strategies": [{"name": "sma_cross", "params": {"fats": 5}}]},
            'error: strategies: sma_cross {"fats": 5}',
        ),  # fmt: skip
    ],
)
def test_bad_input_exits_2_with_one_line_before_any_work(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    code, out, err = invoke("run", "-c", str(config_file(tmp_path, **change)), "--workers", "1")
    assert code == 2
    assert err.startswith(message), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "study.db").exists()  # no study file: nothing started


def test_missing_data_path_and_unreachable_cluster_exit_2(tmp_path: Path) -> None:
    doc = study_doc(tmp_path / "study.db")
    doc["study"]["data"] = str(tmp_path / "nowhere")
    config = write_toml(tmp_path / "s.toml", doc)
    code, _, err = invoke("run", "-c", str(config))
    assert (code, err) == (
        2,
        f"error: {tmp_path / 'nowhere'}: no such data directory or database\n",
    )
    pytest.importorskip("distributed")
    good = config_file(tmp_path)
    code, _, err = invoke("run", "-c", str(good), "--cluster", "tcp://127.0.0.1:9")
    assert code == 2
    assert err.startswith("error: --cluster tcp://127.0.0.1:9: cannot reach the scheduler")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "study.db").exists()


@ON_WORKERS
def test_bad_data_on_the_workers_is_one_line_from_the_whole_process_tree(
    tmp_path: Path, args: list[str]
) -> None:
    # Run as a command: what the workers print and what happens at the interpreter's exit
    # reach the console too (a Dask worker warned of its cancelled load; the pool's exit could
    # print an "Exception ignored" traceback).
    _dask_if_asked(args)
    doc = study_doc(tmp_path / "study.db")
    doc["study"]["symbols"] = [*doc["study"]["symbols"], "SOL/USDT:USDT"]
    process = _start(write_toml(tmp_path / "s.toml", doc), *args)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.decode() == "error: no futures candles for SOL/USDT:USDT in the data directory\n"
    assert not (tmp_path / "study.db").exists()


def test_rerun_is_a_noop_and_a_changed_config_is_refused(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    code, out, err = invoke("run", "-c", str(config), "--workers", "1")
    assert code == 0, err
    assert out.startswith("4/4 cells done (")
    before = results_dump(tmp_path / "study.db")
    code, out, _ = invoke("run", "-c", str(config), "--workers", "1")
    assert (code, out) == (0, f"nothing to do: all 4 cells are in {tmp_path / 'study.db'}\n")
    assert results_dump(tmp_path / "study.db") == before
    changed = study_doc(tmp_path / "study.db")
    changed["study"]["capital"] = 5000
    write_toml(config, changed)
    code, _, err = invoke("run", "-c", str(config), "--workers", "1")
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'study.db'}: holds a study of another config")
    assert err.endswith("pass --new to start over\n") and len(err.splitlines()) == 1
    code, out, _ = invoke("run", "-c", str(config), "--workers", "1", "--new")
    assert (code, out[:16]) == (0, "4/4 cells done (")
    assert results_dump(tmp_path / "study.db") != before  # capital 5000 now


def _wait_for_cells(db: Path, at_least: int, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    count = conn.execute("SELECT count(*) FROM cells").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= at_least:
                return int(count)
        assert process.poll() is None, "the study ended before it could be stopped"
        time.sleep(0.05)
    raise AssertionError("no cell completed within 60 s")


def _start(config: Path, *args: str) -> subprocess.Popen[bytes]:
    # Its own process group, so that a "Ctrl-C" reaches the study and every worker it started,
    # as a terminal's does.
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "study", "run", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


def test_sigkilled_study_resumes_and_skips_completed_cells(tmp_path: Path) -> None:
    windows = {"length_days": 3, "step_days": 3, "to": "2024-03-25"}  # 8 windows x 2 symbols
    config = config_file(tmp_path, windows=windows)
    process = _start(config, "--workers", "1")
    done = _wait_for_cells(tmp_path / "study.db", 1, process)
    process.kill()  # SIGKILL
    process.communicate()
    with sqlite3.connect(tmp_path / "study.db") as conn:
        kept = conn.execute("SELECT count(*) FROM cells").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    assert done <= kept < 16
    assert rows == 7 * kept  # whole tasks only
    code, out, err = invoke("run", "-c", str(config), "--workers", "1")
    assert code == 0, err
    assert out.startswith("16/16 cells done")
    (tmp_path / "clean").mkdir()
    clean = config_file(tmp_path / "clean", windows=windows)
    assert invoke("run", "-c", str(clean), "--workers", "1")[0] == 0
    assert results_dump(tmp_path / "study.db") == results_dump(tmp_path / "clean" / "study.db")


@ON_WORKERS
def test_ctrl_c_stops_after_the_tasks_in_flight_and_keeps_them(
    tmp_path: Path, args: list[str]
) -> None:
    _dask_if_asked(args)
    windows = {"length_days": 3, "step_days": 3, "to": "2024-03-25"}
    config = config_file(tmp_path, windows=windows)
    process = _start(config, *args)
    done = _wait_for_cells(tmp_path / "study.db", 1, process)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole process group
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err  # not done: the shell's code for Ctrl-C
    assert b"stopped by Ctrl-C: run again to resume" in out
    with sqlite3.connect(tmp_path / "study.db") as conn:
        kept = conn.execute("SELECT count(*) FROM cells").fetchone()[0]
    assert done <= kept < 16  # in-flight tasks finished and were kept; no new ones
    assert out.decode().startswith(f"{kept}/16 cells done")


def test_report_writes_markdown_html_and_json_that_pandas_loads(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    assert invoke("run", "-c", str(config), "--workers", "1")[0] == 0
    code, out, _ = invoke("report", "-c", str(config))
    assert code == 0
    markdown = (tmp_path / "study-report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Study verdict: study.db\n\nOver 4 cells (2 windows of 3 days ")
    assert "token:binance_blvt lost to perp:risk_pct=0.02 in " in markdown
    assert "<table>" in (tmp_path / "study-report.html").read_text(encoding="utf-8")
    code, _, _ = invoke(
        "report", "-c", str(config), "--format", "json", "--out", str(tmp_path / "r.json")
    )
    assert code == 0
    frame = pd.read_json(tmp_path / "r.json")
    assert frame.shape[0] == 4 * 7
    assert json.loads((tmp_path / "r.json").read_text())[0]["cell_id"] == frame["cell_id"][0]
    code, out, _ = invoke("report", "--db", str(tmp_path / "study.db"), "--format", "csv")
    assert out.splitlines()[0].startswith("cell_id,vehicle,final_nav,")
    assert len(out.splitlines()) == 1 + 4 * 7
    code, _, err = invoke("report")
    assert (code, err) == (
        2,
        "error: give the study config (-c STUDY.toml) or the study file (--db)\n",
    )
    code, _, err = invoke("report", "-c", str(config), "--out", str(tmp_path / "r.md"))
    assert (code, err) == (
        2,
        "error: --out needs --format (without one, the .md and .html go beside the study file)\n",
    )
    assert not (tmp_path / "r.md").exists()


def test_a_ledger_is_not_taken_for_a_study_file(tmp_path: Path) -> None:
    ledger = tmp_path / "study.db"
    with sqlite3.connect(ledger) as conn:
        conn.execute("CREATE TABLE nav (portfolio_id TEXT, at TEXT, nav REAL)")
    code, _, err = invoke("run", "-c", str(config_file(tmp_path)), "--workers", "1")
    assert code == 2
    assert err == f"error: {ledger}: not a study file (it has tables nav)\n"
