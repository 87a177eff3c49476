"""`ltbot demo` is deterministic (issue 17 point 6): the same command prints the same numbers
and writes the same ledger on every run; `--seconds` only paces the polls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.dump_ledger import dump

REPO = Path(__file__).resolve().parents[1]
# What legitimately differs between two runs: the sim's free port (printed, and in the
# redacted config of `runs`) and the poll interval --seconds gives (in that config).
PORT = re.compile(r"127\.0\.0\.1:\d+")
POLL = re.compile(r'"poll_seconds": [0-9.e-]+')


def demo(directory: Path, seconds: str) -> tuple[str, list[str]]:
    directory.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--log-level", "ERROR", "demo", "--days", "2"]
        + ["--seconds", seconds, "--db", "demo.db", "--out", "reports"],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ledger = [POLL.sub("<poll>", PORT.sub("<port>", line)) for line in dump(directory / "demo.db")]
    return PORT.sub("<port>", done.stdout), ledger


@pytest.mark.slow
def test_two_demo_runs_print_the_same_numbers_and_write_the_same_ledger(tmp_path: Path) -> None:
    out_a, ledger_a = demo(tmp_path / "a", seconds="1")
    out_b, ledger_b = demo(tmp_path / "b", seconds="5")
    # 2 simulated days from the sample's first hour, one poll per simulated hour: 49 steps
    # (2024-03-01 00:00 .. 03-03 00:00 inclusive).
    assert out_a.splitlines()[0] == (
        "sim exchange at http://<port>: 2024-03-01 to 2024-03-03, one poll per simulated hour; "
        "ledger demo.db"
    )
    assert out_a.splitlines()[1].startswith("49 steps; ")
    assert out_a == out_b
    assert any(line.startswith("## fills") for line in ledger_a)
    assert ledger_a == ledger_b
