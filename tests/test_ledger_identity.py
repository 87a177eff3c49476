"""Issue 15 point 2: a ledger remembers the experiments it was made for.

The real daemon (`ltbot run --clock exchange`) writes a short ledger against the sim exchange;
then a start with a changed config is refused with one line naming the portfolio and the key,
writing nothing, unless `--new-portfolios` asks for new portfolios beside the old ones. A
foreign SQLite file and a schema from a newer ltbot are refused, untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.storage_kit import console_lines, dump, ltbot, run_steps, start, write_config

STEPS = 4


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


@pytest.fixture
def ledger(sim: SimExchange, tmp_path: Path) -> Path:
    """A ledger of STEPS committed steps, its daemon stopped cleanly."""
    db = tmp_path / "ledger.db"
    daemon = run_steps(sim, write_config(tmp_path, sim.url), db, STEPS)
    assert daemon.stop() == 0
    return db


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"capital": 20000}, "capital changed (10000.0 in the ledger, 20000.0 in the config)"),
        ({"fast": 4}, "params changed"),
        ({"presets": "[presets.ftx]\ntarget_leverage = 2\n"}, "vehicle parameters changed"),
    ],
)
def test_a_changed_portfolio_is_refused_and_nothing_is_written(
    sim: SimExchange, tmp_path: Path, ledger: Path, change: dict[str, object], key: str
) -> None:
    # Arrange
    before = dump(ledger)
    config = write_config(tmp_path, sim.url, **change)  # type: ignore[arg-type]

    # Act
    result = start(config)

    # Assert
    assert result.returncode == 2
    [line] = console_lines(result)
    assert line.startswith("error: portfolio btc-sma/") and key in line
    assert "--new-portfolios" in line
    assert dump(ledger) == before


def test_new_portfolios_run_beside_the_old_ones(
    sim: SimExchange, tmp_path: Path, ledger: Path
) -> None:
    # Arrange
    before = dump(ledger)
    with sqlite3.connect(ledger) as conn:
        old = conn.execute("SELECT * FROM portfolios ORDER BY id").fetchall()
        old_rows = conn.execute("SELECT count(*) FROM nav").fetchone()[0]
    config = write_config(tmp_path, sim.url, capital=20000)

    # Act: with the flag, then again without it (the new generation is now the current one)
    daemon = run_steps(sim, config, ledger, 2, STEPS, "--new-portfolios")
    assert daemon.stop() == 0
    again = run_steps(sim, config, ledger, 1, STEPS + 2)
    assert again.stop() == 0

    # Assert
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT id, capital FROM portfolios ORDER BY id").fetchall()
        kept = conn.execute("SELECT * FROM portfolios WHERE id NOT LIKE 'btc-sma~%' ORDER BY id")
        assert kept.fetchall() == old
        old_nav = conn.execute(
            "SELECT count(*) FROM nav WHERE portfolio_id NOT LIKE 'btc-sma~%'"
        ).fetchone()[0]
    assert [r for r in rows if r[0].startswith("btc-sma~2/")] == [
        ("btc-sma~2/perp:risk_pct=0.02", 20000.0),
        ("btc-sma~2/spot", 20000.0),
        ("btc-sma~2/token:ftx", 20000.0),
    ]
    assert old_nav == old_rows  # the old portfolios were not run
    assert all(line in dump(ledger) for line in before if 'INSERT INTO "nav"' in line)


def test_a_foreign_sqlite_file_is_refused_untouched(sim: SimExchange, tmp_path: Path) -> None:
    # Arrange
    db = tmp_path / "ledger.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()
    before = db.read_bytes()

    # Act
    result = start(write_config(tmp_path, sim.url))
    status = ltbot("status", "--db", str(db))

    # Assert
    assert result.returncode == 2 and status.returncode == 2
    [line] = console_lines(result)
    assert line == f"error: {db}: not an ltbot ledger (tables customers...); refused, untouched"
    assert len(console_lines(status)) == 1
    assert db.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(("-wal", "-shm", "-journal"))]


@pytest.mark.parametrize("future", ["migration", "user_version"])
def test_a_schema_from_a_newer_ltbot_is_refused(
    sim: SimExchange, tmp_path: Path, ledger: Path, future: str
) -> None:
    # Arrange
    with sqlite3.connect(ledger) as conn:
        if future == "migration":
            conn.execute(
                "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                "VALUES ('ltbot', '0099_from_the_future', '2030-01-01')"
            )
        else:
            conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = dump(ledger)

    # Act
    result = start(write_config(tmp_path, sim.url))
    status = ltbot("status", "--db", str(ledger))
    report = ltbot("report", "--db", str(ledger), "--date", "2024-01-01")

    # Assert
    for outcome in (result, status, report):
        assert outcome.returncode == 2
        [line] = console_lines(outcome)
        assert "newer" in line and "upgrade ltbot" in line
    assert dump(ledger) == before


def test_a_ledger_with_runs_but_no_resume_point_is_not_started_afresh(
    sim: SimExchange, tmp_path: Path, ledger: Path
) -> None:
    # Arrange: the resume point is gone, and so is the run marker beside the file
    with sqlite3.connect(ledger) as conn:
        conn.execute("DELETE FROM engine_state")
    conn.close()
    Path(f"{ledger}.lock").unlink()
    before = dump(ledger)

    # Act
    result = start(write_config(tmp_path, sim.url))

    # Assert
    assert result.returncode == 1
    [line] = console_lines(result)
    assert line == (
        f"error: {ledger}: 1 runs and NAV rows but no resume point; restore it, or start "
        "with --new-ledger to go on from what it holds"
    )
    assert dump(ledger) == before
