"""Warm-up (issue 17 point 1): a daemon started late in the sim's data fetches each strategy's
warm-up bars at start-up, so the first bar that closes after start produces a signal and a fill;
a restart rebuilds the same history (the warm-up bars are fetched again, never recorded)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, drive, ledger, write_config

VEHICLES = '["perp:risk_pct=0.02", "spot"]'


def _fills(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT at, portfolio_id, reason FROM fills ORDER BY id").fetchall()


def test_the_first_bar_after_a_late_start_trades(tmp_path: Path) -> None:
    # Arrange: the sim three days into its data; sma_cross needs 8 closed 1h bars
    with SimExchange(None, speed=0) as sim:
        start = sim.data_start + timedelta(days=3, minutes=20)
        config = write_config(tmp_path, sim.url, vehicles=VEHICLES)
        db = tmp_path / "ledger.db"
        daemon = Daemon(config, tmp_path / "daemon.log")
        sim.set_time(start)
        daemon.start()
        try:
            # Act: a step at start (mid-hour), then one after the next 1h close
            drive(sim, daemon, db, [start, start + timedelta(minutes=40)])
        finally:
            assert daemon.stop() == 0
    # Assert: both portfolios entered at the first close after start, none before it
    fills = _fills(db)
    first_close = (start + timedelta(minutes=40)).isoformat().replace("+00:00", "")
    assert sorted(f[1] for f in fills) == ["btc-sma/perp:risk_pct=0.02", "btc-sma/spot"]
    assert all(f[0].startswith(first_close[:13]) for f in fills), fills
    # Assert: the 8 warm-up bars (sma_cross slow = 8) are recorded, received outside a step,
    # all closed by the start; the bar that traded was received by the second step
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT at, received_at FROM candles WHERE timeframe = '1h' ORDER BY at"
        ).fetchall()
    warm = [at for at, received in rows if received is None]
    assert len(warm) == 8 and len(rows) == 9
    assert warm[-1] == (start - timedelta(minutes=80)).isoformat(timespec="milliseconds")[:23] + "Z"


def test_a_restart_rebuilds_the_warmed_up_history(tmp_path: Path) -> None:
    # An uninterrupted run and one killed and restarted after each step write the same ledger
    with SimExchange(None, speed=0) as sim:
        start = sim.data_start + timedelta(days=3, minutes=20)
        times = [start + timedelta(minutes=40 * i) for i in range(8)]
        ledgers = []
        for name, kills in (("straight", set()), ("killed", {2, 4, 6})):
            directory = tmp_path / name
            directory.mkdir()
            config = write_config(directory, sim.url, vehicles=VEHICLES)
            daemon = Daemon(config, directory / "daemon.log")
            sim.set_time(start)
            daemon.start()
            try:
                drive(sim, daemon, directory / "ledger.db", times, kill_after=kills)
            finally:
                assert daemon.stop() == 0
            ledgers.append(ledger(directory / "ledger.db"))
    assert ledgers[0]["fills"], "no trade: the test shows nothing"
    assert ledgers[0] == ledgers[1]
