"""A step that raises (a bug, a disk refusing writes) stops the daemon instead of letting it go
on from an engine state the ledger does not hold; nothing of the step is written."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.replay.feed import ReplayFeed
from bot.config.settings import load_settings
from bot.engine.candle_screen import CandleScreen
from bot.runtime.clock import ReplayClock
from bot.runtime.daemon import DaemonOptions, StepFailed, _poller
from bot.runtime.session import Session
from bot.runtime.wiring import build_engine, open_store

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, 0, 5, tzinfo=UTC)


def test_a_failing_step_stops_the_poller_and_writes_nothing(tmp_path: Path) -> None:
    example = load_settings(REPO / "config.example.toml")
    db = tmp_path / "live.db"
    settings = example.model_copy(update={"store": example.store.model_copy(update={"path": db})})
    store = open_store(settings)
    feed = ReplayFeed.from_data_dir(REPO / "bot" / "data" / "sample", start=T0)
    clock = ReplayClock(T0 + timedelta(minutes=5))  # the first bar closes at 00:10
    failures: list[StepFailed] = []
    session = Session(store, build_engine(settings, live=False), "live")
    screen = CandleScreen(0.25)
    poll = _poller(session, feed, clock, DaemonOptions(), screen, failures)  # type: ignore[arg-type]
    assert poll() is False and not failures  # a normal step
    store.close()  # from now on every write fails, like a disk that refuses them
    clock.set(T0 + timedelta(minutes=10))
    assert poll() is True  # True: stop the scheduler
    [failure] = failures
    assert "step at 2024-03-01T00:15:00+00:00 failed" in str(failure)
    assert "resume from the last committed step" in str(failure)
    with sqlite3.connect(db) as con:  # only the first step is in the ledger
        assert con.execute("SELECT DISTINCT at FROM ticks").fetchall() == [
            ("2024-03-01T00:10:00.000Z",)
        ]
