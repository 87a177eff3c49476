"""Drive the real daemon (`ltbot run` in a subprocess, real ccxt, real scheduler, real SQLite)
against an in-process sim exchange whose clock the test moves step by step.

The daemon takes its step times from the exchange (`--clock exchange`); the harness moves the
sim clock to the next time only after the daemon has committed the step for the current one,
so an interrupted and an uninterrupted run see exactly the same sequence of step times.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.adapters.sim.exchange import SimExchange

LEDGER_QUERIES = {
    "fills": "SELECT portfolio_id, at, instrument, side, qty, price, fee, reason FROM fills "
    "ORDER BY id",
    "fees": "SELECT portfolio_id, at, kind, amount, fill_id FROM fees ORDER BY id",
    "nav": "SELECT * FROM nav ORDER BY portfolio_id, at",
    "positions": "SELECT * FROM positions ORDER BY id",
    "token_events": "SELECT portfolio_id, at, kind, leverage_before, leverage_after, "
    "nav_per_unit, notional_traded FROM token_events ORDER BY id",
}

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
tiers_max_age_days = 36500  # the bundled snapshot's age warning has its own test

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
vehicles = {vehicles}
"""
EVERY_VEHICLE = """["token:binance_blvt", "token:ftx", "token:bybit", "perp:risk_pct=0.02",
            "perp:risk_pct=0.05", "perp_static:leverage=3", "spot"]"""


def write_config(
    directory: Path,
    url: str,
    db: Path | None = None,
    *,
    capital: float = 10000,
    fast: int = 3,
    presets: str = "",
    vehicles: str = EVERY_VEHICLE,
    name: str = "config.toml",
) -> Path:
    """A config for one BTC experiment (every default vehicle unless `vehicles`, a TOML list),
    polling the sim fast, on `db` (default: directory/ledger.db)."""
    path = directory / name
    text = CONFIG.format(
        url=url,
        db=db or directory / "ledger.db",
        capital=capital,
        fast=fast,
        presets=presets,
        vehicles=vehicles,
    )
    path.write_text(text, encoding="utf-8")
    return path


def committed_at(db: Path) -> datetime | None:
    """Time of the daemon's last committed step (None before the first)."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT at FROM engine_state WHERE key = 'live'").fetchone()
    except sqlite3.OperationalError:
        return None  # not migrated yet
    return None if row is None else datetime.fromisoformat(row[0].replace("Z", "+00:00"))


def ledger(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every ledger table that must match between runs, in a stable order."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in LEDGER_QUERIES.items()}


@dataclass
class Daemon:
    """`ltbot run --clock exchange` as a child process."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    flags: tuple[str, ...] = ()  # more `ltbot run` flags

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)]
                + ["--clock", "exchange", *self.flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                # beside its log: relative paths (report.out_dir "reports") stay in the test's
                # directory, not in the checkout, where parallel tests' daemons would share them
                cwd=self.log.parent,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def drive(
    sim: SimExchange,
    daemon: Daemon,
    db: Path,
    times: list[datetime],
    kill_after: set[int] | None = None,
    kill_delay: float = 0.0,
    timeout: float = 30.0,
) -> None:
    """Move the sim clock through `times`, waiting for each step to be committed.

    For each index in `kill_after`, the daemon is SIGKILLed `kill_delay` seconds after the
    clock moved (so possibly in the middle of that step) and started again.
    """
    for index, at in enumerate(times):
        sim.set_time(at)
        if kill_after and index in kill_after:
            time.sleep(kill_delay)
            daemon.kill()
            daemon.start()
        _wait_for(db, at, daemon, timeout)


def _wait_for(db: Path, at: datetime, daemon: Daemon, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed_at(db)
        if done is not None and done >= at:
            return
        if not daemon.alive():
            raise RuntimeError(f"daemon exited early; log:\n{daemon.log.read_text()[-3000:]}")
        time.sleep(0.01)
    raise TimeoutError(
        f"step at {at} not committed in {timeout}s; log:\n{daemon.log.read_text()[-3000:]}"
    )


def step_times(start: datetime, steps: int, every: timedelta) -> list[datetime]:
    """`steps` step times from `start`, `every` apart."""
    return [start + every * i for i in range(steps)]


def wait_for_commit(db: Path, at: datetime, daemon: Daemon, timeout: float = 30.0) -> None:
    """Wait until the daemon has committed the step at `at` (or later)."""
    _wait_for(db, at, daemon, timeout)


# -- the accounting invariant, per vehicle, from the ledger alone ---------------------------

TOKEN_HOLDER_FEES = ("subscription", "redemption")


def accounting_errors(db: Path, cents: float = 0.01) -> dict[str, float]:
    """Portfolios whose latest NAV the ledger does not explain to the cent: {id: difference}.

    perp, perp_static, spot: capital + realised and unrealised PnL - sum(fees) = latest NAV,
        where the PnL is taken at the quoted (pre-slippage) prices: the fills' cash flow
        (sell qty x price - buy qty x price, at the executed price) plus the slippage fee rows
        (the executed price already holds the slippage), plus the open quantity (net of the
        fills) marked at the NAV row's price; the fees are every `fees` row (trading,
        slippage, funding; funding received is negative).
    token:<preset>: the fund's trading, slippage, management and funding fee rows are an
        attribution of costs already inside its NAV per unit, so they are not subtracted.
        The holder's cash is explained by the ledger: capital - subscriptions + redemptions -
        subscription and redemption fees = the NAV row's cash, and the latest NAV = that cash
        + the value of the units held (>= 0; exactly the cash when no units are held). So:
        capital - holder fees + value change (redemptions - subscriptions + units value) = NAV.
    """
    errors: dict[str, float] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        portfolios = conn.execute("SELECT id, vehicle, capital FROM portfolios").fetchall()
        for pid, vehicle, capital in portfolios:
            nav_row = conn.execute(
                "SELECT nav, cash, price FROM nav WHERE portfolio_id = ? ORDER BY at DESC LIMIT 1",
                [pid],
            ).fetchone()
            if nav_row is None:
                continue
            nav, cash, price = nav_row
            flow, held = conn.execute(
                "SELECT COALESCE(SUM(CASE side WHEN 'sell' THEN qty * price ELSE -qty * price "
                "END), 0), COALESCE(SUM(CASE side WHEN 'buy' THEN qty ELSE -qty END), 0) "
                "FROM fills WHERE portfolio_id = ?",
                [pid],
            ).fetchone()
            if vehicle.startswith("token:"):
                fees = conn.execute(
                    "SELECT COALESCE(SUM(amount), 0) FROM fees WHERE portfolio_id = ? "
                    "AND kind IN (?, ?)",
                    [pid, *TOKEN_HOLDER_FEES],
                ).fetchone()[0]
                cash_gap = capital + flow - fees - cash
                if abs(cash_gap) > cents:
                    errors[pid] = cash_gap
                elif nav < cash - cents or (abs(held) < 1e-9 and abs(nav - cash) > cents):
                    errors[pid] = nav - cash
                continue
            fees, slippage = conn.execute(
                "SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(CASE kind WHEN 'slippage' "
                "THEN amount ELSE 0 END), 0) FROM fees WHERE portfolio_id = ?",
                [pid],
            ).fetchone()
            # Fills carry the executed price, slippage included: the PnL at the quoted price
            # is the fills' cash flow plus the slippage, and every fee is then subtracted.
            realised_and_unrealised = flow + slippage + held * price
            gap = capital + realised_and_unrealised - fees - nav
            if abs(gap) > cents:
                errors[pid] = gap
    return errors


def drive_with_kills(
    sim: SimExchange,
    daemon: Daemon,
    db: Path,
    times: list[datetime],
    kills: dict[int, tuple[str, float]],
    timeout: float = 30.0,
) -> None:
    """Move the sim clock through `times` like `drive`, SIGKILLing the daemon at given steps.

    `kills[index] = (where, seconds)`: "step" kills `seconds` after the clock moved to that
    step (possibly in the middle of its poll, engine step or commit); "idle" kills after the
    step was committed; "startup" kills after the step was committed, restarts, and kills
    again `seconds` into the new process's start-up (imports, connect, resume): two SIGKILLs.
    Every kill is followed by a restart.
    """
    for index, at in enumerate(times):
        sim.set_time(at)
        where, seconds = kills.get(index, ("", 0.0))
        if where == "step":
            time.sleep(seconds)
            daemon.kill()
            daemon.start()
        _wait_for(db, at, daemon, timeout)
        if where == "idle":
            daemon.kill()
            daemon.start()
        elif where == "startup":
            daemon.kill()
            daemon.start()
            time.sleep(seconds)
            daemon.kill()
            daemon.start()
