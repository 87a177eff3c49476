"""Dump every table of an ltbot ledger in a stable order, for before/after comparisons.

    python scripts/dump_ledger.py data/replay.db > before.txt
    python scripts/dump_ledger.py data/replay.db --out after.txt
    diff before.txt after.txt

Tables are dumped by name, rows sorted by every column in table order, one line per row with
`repr` of each value (so floats keep every bit). The wall-clock columns that legitimately change
between two runs of the same input (`runs.started_at`, `runs.ended_at`, `runs.version` and
`_sqlite_migrations.applied_at`) are written as `<wall clock>` unless `--raw` is given.
`--skip TABLE` leaves a table out (repeatable).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

VOLATILE = {
    "runs": {"started_at", "ended_at", "version"},
    "_sqlite_migrations": {"applied_at"},
}


def dump(path: Path, *, raw: bool = False, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """Yield the dump of the ledger at `path`, line by line."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if name not in skip and not name.startswith("sqlite_")
        ]
        for table in tables:
            columns = [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')]
            masked = set() if raw else VOLATILE.get(table, set())
            order = ", ".join(f'"{c}"' for c in columns)
            yield f"## {table} ({', '.join(columns)})"
            rows = con.execute(f'SELECT {order} FROM "{table}" ORDER BY {order}')
            count = 0
            for row in rows:
                values = [
                    "<wall clock>" if name in masked else repr(value)
                    for name, value in zip(columns, row, strict=True)
                ]
                yield " | ".join(values)
                count += 1
            yield f"## {table}: {count} rows"
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--raw", action="store_true", help="keep the wall-clock columns")
    parser.add_argument("--skip", action="append", default=[], help="a table to leave out")
    args = parser.parse_args(argv)
    if not args.db.is_file():
        print(f"error: no such database: {args.db}", file=sys.stderr)
        return 2
    lines = dump(args.db, raw=args.raw, skip=frozenset(args.skip))
    try:
        if args.out is None:
            for line in lines:
                sys.stdout.write(line + "\n")
        else:
            with args.out.open("w", encoding="utf-8") as out:
                for line in lines:
                    out.write(line + "\n")
    except sqlite3.DatabaseError as exc:  # not an SQLite file, or a damaged one
        print(f"error: {args.db}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
