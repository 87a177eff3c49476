"""Shared by the ledger-identity and storage-fault tests: a config, a short daemon run, a
one-shot `ltbot` command and a dump of every row of a ledger."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, drive, step_times

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]
poll_seconds = 0.05
api_url = "{url}"
timeout_ms = 3000
max_retries = 3
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
stale_after_seconds = 86400

[store]
path = "{db}"

[log]
level = "WARNING"
{presets}
[[experiments]]
name = "btc-sma"
symbol = "BTC/USDT:USDT"
strategy = "sma_cross"
params = {{ fast = {fast}, slow = 8, atr_period = 3 }}
capital = {capital}
vehicles = ["token:ftx", "perp:risk_pct=0.02", "spot"]
"""
EVERY = timedelta(minutes=40)


def write_config(
    directory: Path,
    url: str,
    db: Path | None = None,
    *,
    capital: float = 10000,
    fast: int = 3,
    presets: str = "",
    name: str = "config.toml",
) -> Path:
    """A one-experiment config (three vehicles) on `db` (default: directory/ledger.db)."""
    path = directory / name
    text = CONFIG.format(
        url=url,
        db=db or directory / "ledger.db",
        capital=capital,
        fast=fast,
        presets=presets,
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class FlaggedDaemon(Daemon):
    """The harness's daemon with extra `ltbot run` flags."""

    flags: tuple[str, ...] = ()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)]
                + ["--clock", "exchange", *self.flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self.starts += 1


def run_steps(
    sim: SimExchange, config: Path, db: Path, steps: int, first: int = 0, *flags: str
) -> Daemon:
    """Start the daemon and drive it through `steps` steps (step indexes from `first`); the
    daemon is left running."""
    daemon = FlaggedDaemon(config, config.parent / "daemon.log", flags=flags)
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
