"""Shared by the ledger-identity and storage-fault tests: a config, a short daemon run, a
one-shot `ltbot` command and a dump of every row of a ledger."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.adapters.sim.exchange import SimExchange
from tests.e2e import harness
from tests.e2e.harness import Daemon, drive, step_times

EVERY = timedelta(minutes=40)
VEHICLES = '["token:ftx", "perp:risk_pct=0.02", "spot"]'


def write_config(directory: Path, url: str, db: Path | None = None, **options: Any) -> Path:
    """The harness's one-experiment config with three vehicles (`options`: the harness's
    capital, fast, presets, name)."""
    return harness.write_config(directory, url, db, vehicles=VEHICLES, **options)


def run_steps(
    sim: SimExchange, config: Path, db: Path, steps: int, first: int = 0, *flags: str
) -> Daemon:
    """Start the daemon and drive it through `steps` steps (step indexes from `first`); the
    daemon is left running."""
    daemon = Daemon(config, config.parent / "daemon.log", flags=flags)
    times = step_times(sim.data_start + timedelta(hours=1), first + steps, EVERY)[first:]
    sim.set_time(times[0])
    daemon.start()
    drive(sim, daemon, db, times)
    return daemon


def ltbot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`ltbot ARGS` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(config: Path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`ltbot run --config F --clock exchange FLAGS` to completion (a refused start)."""
    return ltbot("run", "--config", str(config), "--clock", "exchange", *flags, timeout=timeout)


def dump(db: Path) -> list[str]:
    """Every row of every table, as SQL text, read without writing."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def console_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The non-empty lines the command printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.strip()]
