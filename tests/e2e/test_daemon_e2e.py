"""End to end: the real daemon against the sim exchange through real ccxt.

- SIGKILL at random points and restart: the ledger equals an uninterrupted run's.
- SIGTERM finishes the current step and exits 0.
- The recorded session replays to the identical ledger.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sim.exchange import SimExchange
from bot.config.settings import load_settings
from bot.runtime.replay_driver import run_replay
from tests.e2e.harness import Daemon, drive, ledger, step_times, write_config

STEPS = 100
EVERY = timedelta(minutes=40)  # 100 steps = 66 h: 8 funding settlements, 2 daily resets


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def run_session(sim: SimExchange, directory: Path, kills: set[int]) -> tuple[Path, Daemon]:
    directory.mkdir()
    config = write_config(directory, sim.url)
    daemon = Daemon(config, directory / "daemon.log")
    times = step_times(sim.data_start + timedelta(hours=1), STEPS, EVERY)
    sim.set_time(times[0])
    daemon.start()
    try:
        drive(sim, daemon, directory / "ledger.db", times, kill_after=kills, kill_delay=0.02)
        assert daemon.stop() == 0  # SIGTERM: the current step finishes, exit code 0
    finally:
        if daemon.alive():
            daemon.kill()
    return directory / "ledger.db", daemon


@pytest.mark.slow
def test_sigkill_and_restart_gives_the_uninterrupted_ledger(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: one uninterrupted run, one killed at random steps (seeded)
    clean_db, _ = run_session(sim, tmp_path / "clean", kills=set())
    kills = set(random.Random(7).sample(range(1, STEPS), 4))

    # Act
    killed_db, daemon = run_session(sim, tmp_path / "killed", kills=kills)

    # Assert
    assert daemon.kills == 4 and daemon.starts == 5
    clean, killed = ledger(clean_db), ledger(killed_db)
    assert clean["fills"], "the scenario must trade, or the comparison proves nothing"
    assert any(row[2] == "funding" for row in clean["fees"])
    assert any(row[2] == "rebalance" for row in clean["token_events"])
    assert killed == clean


@pytest.mark.slow
def test_recorded_live_session_replays_to_the_same_ledger(sim: SimExchange, tmp_path: Path) -> None:
    live_db, _ = run_session(sim, tmp_path / "live", kills=set())
    settings = load_settings(tmp_path / "live" / "config.toml")
    replay_settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"path": tmp_path / "replay.db"})}
    )

    feed = ReplayFeed.from_database(live_db)
    try:
        run_replay(replay_settings, feed)
    finally:
        feed.close()

    live, replayed = ledger(live_db), ledger(tmp_path / "replay.db")
    assert live["fills"]
    assert replayed == live


@pytest.mark.slow
def test_events_missed_while_down_are_caught_up_once(sim: SimExchange, tmp_path: Path) -> None:
    # Arrange: a session that trades, then the daemon dies and 26 hours pass: from about
    # 2024-03-02 03:40 to 03-03 05:40, so three funding settlements (08:00, 16:00, 00:00) and the
    # daily management fees (00:00 Binance and FTX, 01:00 Bybit) fall into the gap
    directory = tmp_path / "gap"
    directory.mkdir()
    config = write_config(directory, sim.url)
    db = directory / "ledger.db"
    daemon = Daemon(config, directory / "daemon.log")
    times = step_times(sim.data_start + timedelta(hours=1), 40, EVERY)
    sim.set_time(times[0])
    daemon.start()
    drive(sim, daemon, db, times)
    daemon.kill()
    before = ledger(db)
    down_at = times[-1]
    back_at = down_at + timedelta(hours=26)

    # Act: restart after the gap; one poll catches up
    sim.set_time(back_at)
    daemon.start()
    drive(sim, daemon, db, [back_at])
    assert daemon.stop() == 0

    # Assert: each settlement in the gap is booked once per open position, each fee once
    after = ledger(db)
    settlements = [
        t
        for t in (
            down_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=h)
            for h in range(1, 28)
        )
        if t.hour % 8 == 0 and down_at < t <= back_at
    ]
    assert len(settlements) == 3
    new_fees = after["fees"][len(before["fees"]) :]
    funding = [(pid, at) for pid, at, kind, _, _ in new_fees if kind == "funding"]
    assert len(funding) == len(set(funding)), "a settlement was booked twice"
    stamps = {at for _, at in funding}
    expected = {t.strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in settlements}
    assert expected <= stamps
    management = [(pid, at) for pid, at, kind, _, _ in new_fees if kind == "management"]
    assert management and len(management) == len(set(management))
    assert after["fills"][: len(before["fills"])] == before["fills"]  # history untouched
