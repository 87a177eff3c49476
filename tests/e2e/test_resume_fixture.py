"""A ledger written by older code resumes with the current code to the very same money.

tests/data/resume/ledger.db was written by `ltbot run` at commit dca4d71 (before the layout
change of issue 13, resume-state schema 1) after 60 steps of the e2e scenario;
expected.dump is what that code's ledger held after 40 more steps
(scripts/make_resume_fixture.py made both). Here the current daemon resumes a copy of that
ledger against the sim exchange over the same 40 steps.

Issue 14 changed the perp money on purpose (isolated margin: the margin and the opening fee
fit in the NAV, funding from the margin at the mark price), so expected.dump was re-made from
the same old ledger.db with `make_resume_fixture.py --continue-only` at that change: the old
ledger still resumes, to the money of the current model.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from scripts.dump_ledger import dump
from scripts.make_resume_fixture import STOP_AT, scenario_times
from tests.e2e.harness import Daemon, committed_at, drive, write_config

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "resume"


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }


@pytest.mark.slow
def test_a_schema_1_ledger_resumes_to_the_ledger_the_old_code_wrote(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: the old ledger, stopped after step 60 of the scenario
    expected = (FIXTURE / "expected.dump").read_text(encoding="utf-8")
    compared = {line[3:].split(" (")[0] for line in expected.splitlines() if " (" in line}
    db = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE / "ledger.db", db)
    times = scenario_times(sim.data_start)
    assert committed_at(db) == times[STOP_AT - 1]
    config = write_config(tmp_path, sim.url)
    daemon = Daemon(config, tmp_path / "daemon.log")
    sim.set_time(times[STOP_AT - 1])  # where the old daemon stopped

    # Act: the current daemon resumes and runs the remaining steps
    daemon.start()
    try:
        drive(sim, daemon, db, times[STOP_AT:])
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()

    # Assert: every ledger table the old code wrote holds the same rows, bit for bit
    skipped = frozenset(_tables(db) - compared)
    actual = "".join(line + "\n" for line in dump(db, skip=skipped))
    assert actual.splitlines() == expected.splitlines()
    # The resumed part trades, settles funding and re-levers, or the comparison proves little:
    # 46 fills, 24 funding fees and 2 token events before the restart, 111, 42 and 4 after.
    with sqlite3.connect(FIXTURE / "ledger.db") as conn:
        before = conn.execute(
            "SELECT (SELECT COUNT(*) FROM fills), (SELECT COUNT(*) FROM fees WHERE kind = "
            "'funding'), (SELECT COUNT(*) FROM token_events)"
        ).fetchone()
    assert before == (46, 24, 2)
    assert "## fills: 111 rows" in expected and "## token_events: 4 rows" in expected
