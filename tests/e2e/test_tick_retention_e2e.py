"""The real daemon applies `[store] tick_retention_days` at start-up: old ticks go, nothing else.

A first session records 3 days of 6-hourly steps with every tick kept; the daemon restarts
with a retention of 1 day (environment override) while the sim clock stands still, so no new
step is written and the start-up maintenance job is the only writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, drive, ledger, step_times, write_config


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def _market(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()  # noqa: S608
            for t in ("ticks", "candles", "funding_rates", "engine_state")
        }


def test_daemon_start_up_prunes_ticks_older_than_the_retention(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: 13 steps, 6 hours apart (72 hours), one symbol: 13 ticks
    config = write_config(tmp_path, sim.url)
    db = tmp_path / "ledger.db"
    daemon = Daemon(config, tmp_path / "daemon.log")
    times = step_times(sim.data_start + timedelta(hours=1), 13, timedelta(hours=6))
    sim.set_time(times[0])
    daemon.start()
    try:
        drive(sim, daemon, db, times)
        assert daemon.stop() == 0
        before, market = ledger(db), _market(db)
        assert len(market["ticks"]) == 13 and before["fills"]

        # Act: restart with a retention of 1 day; the clock stays at the last step
        daemon.env["LTBOT_STORE__TICK_RETENTION_DAYS"] = "1"
        daemon.start()
        deadline = time.monotonic() + 30
        while len(_market(db)["ticks"]) != 5 and time.monotonic() < deadline:
            assert daemon.alive(), daemon.log.read_text()[-3000:]
            time.sleep(0.02)
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()

    # Assert: the ticks of the last day remain (48 h .. 72 h: 5 steps), the rest is untouched
    after = _market(db)
    assert after["ticks"] == market["ticks"][8:]
    assert after["ticks"][0][0] == f"{times[8]:%Y-%m-%dT%H:%M:%S}.000Z"
    assert {t: rows for t, rows in after.items() if t != "ticks"} == {
        t: rows for t, rows in market.items() if t != "ticks"
    }
    assert ledger(db) == before
