"""`ltbot demo` fast-forwards like a replay: its console keeps start-up, problems and the
summary; every fill and position open/close is in the log file beside `--db` (issue 17.3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["demo", "--days", "2", "--seconds", "1", "--out", str(tmp_path / "out"), *extra]
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, check=False
    )


def test_the_demo_console_is_quiet_and_its_log_file_has_the_trades(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--db", str(tmp_path / "demo.db"))
    assert done.returncode == 0, done.stderr
    messages = [line.split(maxsplit=3)[2:] for line in done.stderr.splitlines()]
    assert {level for level, _ in messages} <= {"INFO", "WARNING"}
    texts = [text for _, text in messages]
    assert not [t for t in texts if " opened " in t or " entry " in t or " bought " in t]
    assert [t.split(":")[0] for t in texts if t.startswith(("scheduler", "run summary"))] == [
        "scheduler started",
        "scheduler stopped",
        "run summary",
    ]
    log = (tmp_path / "demo.log").read_text(encoding="utf-8")
    assert "btc-hold/spot entry buy " in log  # the fill
    assert "btc-hold/spot opened long " in log  # its one-line open


def test_verbose_puts_the_fills_on_the_console(tmp_path: Path) -> None:
    done = _demo(tmp_path, "-v")
    assert done.returncode == 0, done.stderr
    assert " btc-hold/spot entry buy " in done.stderr
    assert " btc-hold/spot opened long " in done.stderr
