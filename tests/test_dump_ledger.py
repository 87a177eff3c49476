"""scripts/dump_ledger.py: every table in a stable order, wall-clock columns masked, bad input
is one line and exit code 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scripts.dump_ledger import dump, main


def test_tables_by_name_rows_by_value_and_the_wall_clock_masked(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER, started_at TEXT, mode TEXT)")
        conn.execute("CREATE TABLE fills (id INTEGER, price REAL)")
        conn.executemany("INSERT INTO fills VALUES (?, ?)", [(2, 0.1 + 0.2), (1, 3.0)])
        conn.execute("INSERT INTO runs VALUES (1, '2026-11-30T19:00:00.000Z', 'replay')")

    assert list(dump(db)) == [
        "## fills (id, price)",
        "1 | 3.0",
        "2 | 0.30000000000000004",
        "## fills: 2 rows",
        "## runs (id, started_at, mode)",
        "1 | <wall clock> | 'replay'",
        "## runs: 1 rows",
    ]
    assert list(dump(db, skip=frozenset({"fills"})))[0] == "## runs (id, started_at, mode)"
    assert "'2026-11-30T19:00:00.000Z'" in list(dump(db, raw=True))[5]


@pytest.mark.parametrize("content", [None, b"not a database at all"])
def test_a_missing_or_foreign_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "x.db"
    if content is not None:
        path.write_bytes(content)

    assert main([str(path)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
