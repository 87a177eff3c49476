"""`ltbot replay` as a user runs it (a subprocess): a quiet console, everything in the log
file beside the ledger, one line and one traceback per streak of strategy failures, and a
progress bar that log lines print above."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"

# Fails on every 1h bar opening before noon UTC: one streak of 12 failures per day.
BOOM = """
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams


class Boom(Strategy[StrategyParams]):
    name = "boom"
    timeframe = "1h"
    Params = StrategyParams

    def on_bar(self, history: HistoryView) -> Signal | None:
        if history.at.hour < 12:
            raise ZeroDivisionError("boom")
        return Signal(Direction.LONG, stop=history.close[-1] * 0.95)
"""

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]

[store]
path = "{db}"

[[experiments]]
name = "btc-boom"
symbol = "BTC/USDT:USDT"
strategy = "boom"
capital = 10000
vehicles = ["spot", "perp:risk_pct=0.02"]
"""


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    strategies = tmp_path / "my_strategies"
    strategies.mkdir(exist_ok=True)
    (strategies / "boom.py").write_text(BOOM, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "ledger.db"), encoding="utf-8")
    return config, strategies


def _replay(tmp_path: Path, *extra: str) -> list[str]:
    config, strategies = _setup(tmp_path)
    return [
        sys.executable, "-m", "bot", "replay", "-c", str(config),
        "--strategy-path", str(strategies), "--data", str(SAMPLE),
        "--from", "2024-03-01", "--to", "2024-03-02", "--db", str(tmp_path / "r.db"), *extra,
    ]  # fmt: skip


def _messages(stderr: str) -> list[str]:
    # "2026-01-01 00:00:00 ERROR   message" -> "ERROR message"
    return [" ".join(line.split()[2:]) for line in stderr.splitlines()]


def test_the_console_gets_one_line_per_failure_streak_and_the_file_the_rest(
    tmp_path: Path,
) -> None:
    done = subprocess.run(_replay(tmp_path), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    failed = "ZeroDivisionError('boom') (traceback in the log file; failures counted until a "
    assert _messages(done.stderr) == [
        f"ERROR strategy boom failed on btc-boom bar 2024-03-01 00:00:00+00:00: {failed}"
        "call succeeds)",
        "WARNING strategy boom on btc-boom works again at bar 2024-03-01 12:00:00+00:00 "
        "after 12 failed calls in a row",
        f"ERROR strategy boom failed on btc-boom bar 2024-03-02 00:00:00+00:00: {failed}"
        "call succeeds)",
        "WARNING strategy boom on btc-boom works again at bar 2024-03-02 12:00:00+00:00 "
        "after 12 failed calls in a row",
    ]
    log = (tmp_path / "r.log").read_text(encoding="utf-8")
    assert log.count("Traceback (most recent call last)") == 2  # one per streak
    # The fills and the opens are in the file: the spot entry after the first success.
    assert "btc-boom/spot entry buy" in log
    assert "btc-boom/spot opened long" in log
    assert done.stdout.splitlines()[-2].startswith("576 steps from 2024-03-01 00:05:00+00:00")


def test_quiet_keeps_the_problems_and_verbose_shows_the_fills(tmp_path: Path) -> None:
    quiet = subprocess.run(_replay(tmp_path, "-q"), capture_output=True, text=True, check=False)
    assert quiet.returncode == 0, quiet.stderr
    assert [m.split(" on ")[0] for m in _messages(quiet.stderr)] == [
        "ERROR strategy boom failed",
        "WARNING strategy boom",
        "ERROR strategy boom failed",
        "WARNING strategy boom",
    ]
    verbose = subprocess.run(_replay(tmp_path, "-v"), capture_output=True, text=True, check=False)
    assert verbose.returncode == 0, verbose.stderr
    # The spot entry fill of the first bar that gives a signal (12:00, filled at its close).
    assert any(m.startswith("INFO btc-boom/spot entry buy ") for m in _messages(verbose.stderr))
    assert any(m.startswith("DEBUG effective config") for m in _messages(verbose.stderr))
    assert verbose.stderr.count("Traceback (most recent call last)") == 2


def test_quiet_and_verbose_together_exit_2_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        _replay(tmp_path, "-q", "-v"), capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == "error: -q/--quiet and -v/--verbose exclude each other\n"


def test_on_a_terminal_the_bar_shows_percentage_rate_and_eta_under_unbroken_log_lines(
    tmp_path: Path,
) -> None:
    # A pseudo-terminal, as a person at a shell has: the bar is drawn (on a pipe it is not).
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    with subprocess.Popen(
        _replay(tmp_path), stdin=follower, stdout=follower, stderr=follower, env=env
    ) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    os.close(leader)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    lines = [line.strip() for line in screen.replace("\r", "\n").splitlines()]
    bars = [line for line in lines if line.startswith("replay ") and "%" in line]
    assert bars, screen[-2000:]
    assert re.search(r"replay .*\d+% .*(days/s|\d:\d\d:\d\d|-:--:--) ", bars[-1]), bars[-1]
    # Each log line printed while the bar was up is whole, on a line of its own.
    works = [line for line in lines if "works again at bar" in line]
    assert [line.split("WARNING ")[1] for line in works] == [
        "strategy boom on btc-boom works again at bar 2024-03-01 12:00:00+00:00 "
        "after 12 failed calls in a row",
        "strategy boom on btc-boom works again at bar 2024-03-02 12:00:00+00:00 "
        "after 12 failed calls in a row",
    ]
