"""What a ledger file is, read before anything is written to it (issue 15 points 2 and 4).

`inspect_ledger(path)` opens the file read-only and tells a new ledger from an ltbot ledger, a
foreign SQLite file, a ledger written by newer code, and storage that cannot be read.
`check_identity` compares the portfolios the config asks for with those the ledger was made
for: a changed capital, strategy, symbol, strategy parameter or vehicle parameter of an
existing portfolio is refused, or (asked for explicitly) starts a new generation of the
experiment, `<name>~2`, `<name>~3`..., leaving the old portfolios as they are.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters.sqlite.migrations import migrations
from bot.adapters.sqlite.writer import dumps
from bot.engine.ports import PortfolioRow

# `PRAGMA user_version` of the ledgers this code writes (migrations never set it).
USER_VERSION = 0
GENERATION = "~"  # `<experiment>~<n>`: the n-th generation of an experiment's portfolios


class StoreError(RuntimeError):
    """The database cannot be used as asked: not an ltbot ledger, a newer schema, a config
    that contradicts the ledger, a database in use (a user error: exit code 2)."""


class StorageFault(RuntimeError):
    """The storage under the ledger failed: unreadable, read-only, full, corrupt, deleted,
    replaced or rolled back (exit code 1 for the daemon, 2 for a command reading a file)."""


@dataclass(frozen=True, slots=True)
class StoredPortfolio:
    """A `portfolios` row with its vehicle parameters (JSON text, None on old ledgers)."""

    experiment: str
    strategy: str
    symbol: str
    capital: float
    strategy_params: Any
    vehicle_params: str | None
    timeframe: str | None = None  # the experiment's `timeframe` key (None: the strategy's own)


@dataclass(frozen=True, slots=True)
class LedgerFile:
    """What `inspect_ledger` found: `new` for a missing, empty or table-less file."""

    path: Path
    new: bool
    portfolios: Mapping[str, StoredPortfolio] = field(default_factory=dict)
    live_runs: int = 0
    nav_rows: bool = False
    resume_at: str | None = None  # the live engine state's step time


def inspect_ledger(path: Path) -> LedgerFile:
    """Read `path` without writing a byte; StoreError or StorageFault when it is unusable."""
    if not path.exists() or path.stat().st_size == 0:
        return LedgerFile(path, new=True)
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
            return _read(path, conn)
    except sqlite3.DatabaseError as exc:
        raise _storage_error(path, exc) from exc


def check_schema(path: Path, conn: sqlite3.Connection) -> bool:
    """True for an ltbot ledger, False for a file without tables; StoreError for a foreign
    file or a schema newer than this code."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > USER_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this ltbot's ({USER_VERSION}); "
            "upgrade ltbot"
        )
    if not tables:
        return False
    ours = (
        "_sqlite_migrations" in tables
        and "portfolios" in tables
        and conn.execute(
            "SELECT count(*) FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name]
        ).fetchone()[0]
    )
    if not ours:
        names = ", ".join(sorted(tables)[:3])
        raise StoreError(f"{path}: not an ltbot ledger (tables {names}...); refused, untouched")
    known = {m.name for m in migrations._migrations}
    applied = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name]
        )
    ]
    unknown = sorted(set(applied) - known)
    if unknown:
        raise StoreError(
            f"{path}: written by a newer ltbot (unknown migration {unknown[0]}); upgrade ltbot"
        )
    return True


def _read(path: Path, conn: sqlite3.Connection) -> LedgerFile:
    if not check_schema(path, conn):
        return LedgerFile(path, new=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    stored_vehicles: dict[str, str] = {}
    if "vehicle_params" in tables:
        stored_vehicles = dict(conn.execute("SELECT portfolio_id, params FROM vehicle_params"))
    portfolios = {}
    for pid, experiment, strategy, symbol, capital, params in conn.execute(
        "SELECT id, experiment, strategy, symbol, capital, params FROM portfolios"
    ):
        decoded = json.loads(params)
        portfolios[pid] = StoredPortfolio(
            experiment,
            strategy,
            symbol,
            float(capital),
            decoded.get("strategy"),
            stored_vehicles.get(pid),
            decoded.get("timeframe"),
        )
    live_runs = conn.execute("SELECT count(*) FROM runs WHERE mode IN ('live', 'demo')")
    resume = None
    if "engine_state" in tables:
        row = conn.execute("SELECT at FROM engine_state WHERE key = 'live'").fetchone()
        resume = None if row is None else str(row[0])
    return LedgerFile(
        path,
        new=False,
        portfolios=portfolios,
        live_runs=int(live_runs.fetchone()[0]),
        nav_rows=conn.execute("SELECT 1 FROM nav LIMIT 1").fetchone() is not None,
        resume_at=resume,
    )


def _storage_error(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    text = str(exc)
    if "not a database" in text:
        return StoreError(f"{path}: not an SQLite database; refused, untouched")
    return StorageFault(f"{path}: cannot read the ledger ({text})")


def check_identity(
    rows: Sequence[PortfolioRow], ledger: LedgerFile, new_portfolios: bool
) -> dict[str, str]:
    """The experiment names to run under: {config name: ledger name} for every experiment of
    `rows` whose current generation in the ledger is not the config's name.

    StoreError naming the first differing portfolio and key, unless `new_portfolios`: then
    each differing experiment starts a new generation."""
    renames: dict[str, str] = {}
    for experiment in sorted({r.experiment for r in rows}):
        mine = [r for r in rows if r.experiment == experiment]
        generation = _current_generation(experiment, ledger)
        current = _generation_name(experiment, generation)
        difference = _first_difference(mine, current, ledger)
        if difference is not None and not new_portfolios:
            raise StoreError(
                f"{difference}; restore the config, or start with --new-portfolios to run "
                "new portfolios beside the old ones (kept as they are)"
            )
        if difference is not None:
            current = _generation_name(experiment, generation + 1)
        if current != experiment:
            renames[experiment] = current
    return renames


def _generation_name(experiment: str, generation: int) -> str:
    return experiment if generation <= 1 else f"{experiment}{GENERATION}{generation}"


def _current_generation(experiment: str, ledger: LedgerFile) -> int:
    names = {p.experiment for p in ledger.portfolios.values()}
    generation = 1
    while _generation_name(experiment, generation + 1) in names:
        generation += 1
    return generation


def _first_difference(
    rows: Sequence[PortfolioRow], experiment: str, ledger: LedgerFile
) -> str | None:
    # "<portfolio>: <key> <ledger's> in the ledger, <config's> in the config"
    for row in sorted(rows, key=lambda r: r.id):
        pid = f"{experiment}/{row.vehicle}"
        stored = ledger.portfolios.get(pid)
        if stored is None:
            continue  # a vehicle added to the experiment: a new portfolio
        vehicle = None if row.vehicle_params is None else dumps(row.vehicle_params.to_dict())
        checks = (
            ("capital", stored.capital, float(row.capital)),
            ("strategy", stored.strategy, row.strategy),
            ("symbol", stored.symbol, row.symbol),
            ("params", _canonical(stored.strategy_params), _canonical(row.params.get("strategy"))),
            (
                "timeframe",
                stored.timeframe or "the strategy's own",
                row.params.get("timeframe") or "the strategy's own",
            ),
            (
                "vehicle parameters",
                stored.vehicle_params or vehicle,
                vehicle or stored.vehicle_params,
            ),
        )
        for key, was, now in checks:
            if was != now:
                shown = (
                    ""
                    if key == "vehicle parameters"
                    else f" {was} in the ledger, {now} in the config"
                )
                return f"portfolio {pid}: {key} changed ({shown.strip() or 'see vehicle_params'})"
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
