"""Write the resume fixture of tests/e2e/test_resume_fixture.py (run once per state schema).

    python scripts/make_resume_fixture.py tests/data/resume
    python scripts/make_resume_fixture.py tests/data/resume --continue-only

Runs the real daemon (`ltbot run --clock exchange`) against the in-process sim exchange for
`STOP_AT` steps of the e2e scenario, stops it with SIGTERM and keeps that ledger
(`ledger.db`, copied with SQLite's backup API). It then restarts the daemon on it for the
remaining steps and writes the dump of the ledger tables (`expected.dump`, from
scripts/dump_ledger.py without `runs`, `engine_state` and `_sqlite_migrations`, which hold
paths, the state's encoding and the schema version). The test resumes a copy of `ledger.db`
with the current code over the same steps and compares its dump with `expected.dump`: a ledger
written by older code resumes after a refactor with the very same money.

`--continue-only` keeps the existing `ledger.db` (written by older code) and re-makes only
`expected.dump` by resuming a copy of it with the current code: for a change of the money
model made on purpose (issue 14: isolated margin), where the old code's continuation is no
longer what the current code must write, but an old ledger must still resume.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.dump_ledger import dump  # noqa: E402
from tests.e2e.harness import Daemon, drive, step_times, write_config  # noqa: E402

STEPS = 100
STOP_AT = 60
EVERY = timedelta(minutes=40)
SKIPPED = frozenset({"runs", "engine_state", "_sqlite_migrations"})


def scenario_times(data_start: datetime) -> list[datetime]:
    """The step times of the scenario (the e2e tests' 100 steps, 40 minutes apart)."""
    return step_times(data_start + timedelta(hours=1), STEPS, EVERY)


def backup(source: Path, target: Path) -> None:
    """Copy a live SQLite file, WAL included, into one self-contained file."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")


def main(out: Path, continue_only: bool = False) -> int:
    from loguru import logger

    from bot.adapters.sim.exchange import SimExchange

    logger.remove()  # the sim logs every request at DEBUG

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, SimExchange(None, speed=0) as sim:
        directory = Path(tmp)
        config = write_config(directory, sim.url)
        db = directory / "ledger.db"
        daemon = Daemon(config, directory / "daemon.log")
        times = scenario_times(sim.data_start)
        if continue_only:
            backup(out / "ledger.db", db)
            sim.set_time(times[STOP_AT - 1])
        else:
            sim.set_time(times[0])
            daemon.start()
            drive(sim, daemon, db, times[:STOP_AT])
            assert daemon.stop() == 0
            backup(db, out / "ledger.db")
        daemon.start()
        drive(sim, daemon, db, times[STOP_AT:])
        assert daemon.stop() == 0
        text = "".join(line + "\n" for line in dump(db, skip=SKIPPED))
        (out / "expected.dump").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'ledger.db'} and {out / 'expected.dump'}")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--continue-only"]
    target = Path(args[0]) if args else ROOT / "tests/data/resume"
    sys.exit(main(target, continue_only="--continue-only" in sys.argv[1:]))
