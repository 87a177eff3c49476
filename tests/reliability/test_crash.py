"""Crash test: 20 SIGKILLs at random (seeded) points of an accelerated daemon run.

The real daemon (`ltbot run --clock exchange`) runs against the sim exchange; it is killed in
the middle of steps, while idle, and during its own start-up, and restarted each time. After
the last restart the ledger must equal an uninterrupted run's: no lost or duplicated fills,
fees, funding, NAV rows, positions or token events, and SQLite's integrity check passes.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import (
    Daemon,
    accounting_errors,
    drive_with_kills,
    ledger,
    step_times,
    write_config,
)

STEPS = 72
EVERY = timedelta(minutes=40)  # 72 steps = 48 h: 6 funding settlements, 2 daily resets
SIGKILLS = 20


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def kill_plan(seed: int) -> dict[int, tuple[str, float]]:
    """Where to kill, per step index, adding up to exactly SIGKILLS kills."""
    rng = random.Random(seed)
    plan: dict[int, tuple[str, float]] = {}
    kills = 0
    steps = iter(rng.sample(range(1, STEPS - 1), STEPS - 2))
    while kills < SIGKILLS:
        where = rng.choice(["step", "step", "step", "idle", "startup"])
        if where == "startup" and kills + 2 > SIGKILLS:
            where = "step"
        # mid-step: from "before the poll" to "while the engine or the commit runs"
        seconds = rng.uniform(0.0, 0.12) if where == "step" else rng.uniform(0.1, 1.5)
        plan[next(steps)] = (where, seconds)
        kills += 2 if where == "startup" else 1
    return plan


def run_session(
    sim: SimExchange, directory: Path, kills: dict[int, tuple[str, float]]
) -> tuple[Path, Daemon]:
    directory.mkdir()
    daemon = Daemon(write_config(directory, sim.url), directory / "daemon.log")
    times = step_times(sim.data_start + timedelta(hours=1), STEPS, EVERY)
    sim.set_time(times[0])
    daemon.start()
    try:
        drive_with_kills(sim, daemon, directory / "ledger.db", times, kills)
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
    return directory / "ledger.db", daemon


MARKET_QUERIES = {
    "ticks": "SELECT * FROM ticks ORDER BY at, symbol",
    "candles": "SELECT * FROM candles ORDER BY symbol, timeframe, at",
    "funding_rates": "SELECT * FROM funding_rates ORDER BY symbol, at",
}


def market_data(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """The recorded market data (what a replay of the session reads)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in MARKET_QUERIES.items()}


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
def test_twenty_sigkills_leave_the_uninterrupted_ledger(sim: SimExchange, tmp_path: Path) -> None:
    # Arrange
    plan = kill_plan(seed=2026)
    assert {where for where, _ in plan.values()} == {"step", "idle", "startup"}
    clean_db, _ = run_session(sim, tmp_path / "clean", {})

    # Act
    killed_db, daemon = run_session(sim, tmp_path / "killed", plan)

    # Assert
    assert daemon.kills == SIGKILLS and daemon.starts == SIGKILLS + 1
    clean, killed = ledger(clean_db), ledger(killed_db)
    assert clean["fills"] and any(row[2] == "funding" for row in clean["fees"])
    assert killed == clean
    assert market_data(killed_db) == market_data(clean_db)  # recorded once, nothing lost
    assert integrity(killed_db) == integrity(clean_db) == "ok"
    assert not accounting_errors(killed_db)
    assert not [r for r in sim.requests if r.signed]
