"""Versioned schema migrations of the SQLite ledger (DESIGN.md database contract).

Applied at every start through sqlite-utils' `Migrations`; each runs once, inside a transaction,
and is recorded in `_sqlite_migrations`. Never edit a released migration: add a new one.
Times are fixed-width UTC text; money is USDT; a fee amount > 0 is a cost, < 0 an income.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("ltbot")

_SCHEMA_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    mode TEXT NOT NULL CHECK (mode IN ('live', 'replay', 'demo')),
    exchange TEXT NOT NULL,
    config TEXT NOT NULL,
    version TEXT NOT NULL
);
CREATE TABLE ticks (
    at TEXT NOT NULL,
    symbol TEXT NOT NULL,
    last REAL NOT NULL,
    mark REAL,
    index_price REAL,
    bid REAL,
    ask REAL,
    funding_rate REAL,
    next_funding_at TEXT,
    PRIMARY KEY (symbol, at)
);
CREATE INDEX ticks_at ON ticks (at);
CREATE TABLE candles (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    at TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    PRIMARY KEY (symbol, timeframe, at)
);
CREATE TABLE funding_rates (
    symbol TEXT NOT NULL,
    at TEXT NOT NULL,
    rate REAL NOT NULL,
    PRIMARY KEY (symbol, at)
);
CREATE TABLE portfolios (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    vehicle TEXT NOT NULL,
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    capital REAL NOT NULL,
    params TEXT NOT NULL
);
CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    portfolio_id TEXT NOT NULL REFERENCES portfolios (id),
    at TEXT NOT NULL,
    instrument TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('subscribe', 'redeem', 'entry', 'exit', 'stop',
        'take_profit', 'liquidation', 'rebalance'))
);
CREATE INDEX fills_portfolio_at ON fills (portfolio_id, at);
CREATE TABLE fees (
    id INTEGER PRIMARY KEY,
    portfolio_id TEXT NOT NULL REFERENCES portfolios (id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('trading', 'slippage', 'subscription', 'redemption',
        'management', 'funding')),
    amount REAL NOT NULL,
    fill_id INTEGER REFERENCES fills (id)
);
CREATE INDEX fees_portfolio_at ON fees (portfolio_id, at);
-- One funding record per (portfolio, settlement time): a portfolio trades one symbol, so this
-- is the (portfolio, symbol, settlement) key: overlapping polls or restarts cannot book twice.
CREATE UNIQUE INDEX fees_one_funding ON fees (portfolio_id, at) WHERE kind = 'funding';
CREATE TABLE nav (
    portfolio_id TEXT NOT NULL REFERENCES portfolios (id),
    at TEXT NOT NULL,
    nav REAL NOT NULL,
    cash REAL NOT NULL,
    exposure REAL NOT NULL,
    leverage REAL NOT NULL,
    price REAL NOT NULL,
    PRIMARY KEY (portfolio_id, at)
);
CREATE TABLE token_events (
    id INTEGER PRIMARY KEY,
    portfolio_id TEXT NOT NULL REFERENCES portfolios (id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('rebalance', 'reverse_split', 'blocked')),
    leverage_before REAL NOT NULL,
    leverage_after REAL NOT NULL,
    nav_per_unit REAL NOT NULL,
    notional_traded REAL NOT NULL
);
CREATE INDEX token_events_portfolio_at ON token_events (portfolio_id, at);
CREATE TABLE positions (
    id TEXT PRIMARY KEY,
    portfolio_id TEXT NOT NULL REFERENCES portfolios (id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    opened_at TEXT NOT NULL,
    entry REAL NOT NULL,
    qty REAL NOT NULL,
    stop REAL,
    take_profit REAL,
    risk_pct REAL,
    leverage REAL NOT NULL,
    liq_price REAL,
    closed_at TEXT,
    exit_price REAL,
    pnl REAL,
    exit_reason TEXT,
    intended_risk REAL,
    effective_risk REAL
);
CREATE INDEX positions_portfolio ON positions (portfolio_id, opened_at);
"""


@migrations(name="0001_ledger")
def m0001_ledger(db: Database) -> None:
    """Create every table of the DESIGN.md database contract."""
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations(name="0003_engine_state")
def m0003_engine_state(db: Database) -> None:
    """Crash-only resume: the engine's state after its last committed step, per run mode."""
    db.execute(
        "CREATE TABLE engine_state (key TEXT PRIMARY KEY, at TEXT NOT NULL, state TEXT NOT NULL)"
    )


@migrations(name="0002_report_metrics")
def m0002_report_metrics(db: Database) -> None:
    """Report metrics: one value per (period, portfolio, metric), replaced when re-run.

    `period` is the report's label: a local day `2024-01-01` or an inclusive range
    `2024-01-01..2024-01-07` in `timezone`; `start_at`/`end_at` are its UTC bounds.
    `value` is NULL when the metric is undefined (e.g. a Sharpe ratio without volatility).
    """
    db.execute(
        "CREATE TABLE report_metrics ("
        "period TEXT NOT NULL, start_at TEXT NOT NULL, end_at TEXT NOT NULL, "
        "timezone TEXT NOT NULL, portfolio_id TEXT NOT NULL REFERENCES portfolios (id), "
        "metric TEXT NOT NULL, value REAL, PRIMARY KEY (period, portfolio_id, metric))"
    )


@migrations(name="0004_received_at")
def m0004_received_at(db: Database) -> None:
    """When a live step received each candle and settled funding rate (its step time).

    A poll may fetch a closed candle or a settled rate several polls after it closed or
    settled (`[exchange] history_requests_per_poll`); a replay of the database hands it to the
    engine in that same step. NULL (rows recorded before, downloaded data): the first step
    at or after the candle's close or the settlement."""
    db.execute("ALTER TABLE candles ADD COLUMN received_at TEXT")
    db.execute("ALTER TABLE funding_rates ADD COLUMN received_at TEXT")


@migrations(name="0005_vehicle_params")
def m0005_vehicle_params(db: Database) -> None:
    """Each portfolio's effective vehicle parameters, written once when it is first registered.

    `params` is JSON: `{"kind", "tokens": {"long"|"short": every TokenSpec field}, "params":
    every perp/perp_static/spot parameter}` (bot.engine.ports.VehicleParams). Reports read it
    instead of rebuilding a token's spec from the config of the day; a later config change
    leaves it as it is. Existing tables are untouched.
    """
    db.execute(
        "CREATE TABLE vehicle_params ("
        "portfolio_id TEXT PRIMARY KEY REFERENCES portfolios (id), params TEXT NOT NULL)"
    )


@migrations(name="0006_isolated_margin")
def m0006_isolated_margin(db: Database) -> None:
    """Isolated margin (issue 14): what a position put up, liquidation clearance fees, entries
    refused and portfolios that died.

    - `positions.margin`: the isolated margin at entry (USDT; NULL for spot and for rows
      written before); `positions.liq_price` now follows the margin as funding moves it.
    - `fees.kind` also takes 'liquidation' (Binance's insurance clearance fee). SQLite cannot
      change a CHECK constraint, so the table is rebuilt with the same rows and ids.
    - `entry_refusals`: per portfolio, reason ('no_equity', 'min_notional',
      'liquidation_guard', 'leverage_bracket') and UTC day (`YYYY-MM-DD`), how many entries
      were refused, the first and the last time (a report sums the days of its window).
    - `portfolio_deaths`: when a portfolio's NAV reached 0 or could no longer pay for the
      smallest order, and why (one row per portfolio, never rewritten).
    """
    db.execute("ALTER TABLE positions ADD COLUMN margin REAL")
    db.execute(
        "CREATE TABLE fees_new ("
        "id INTEGER PRIMARY KEY, "
        "portfolio_id TEXT NOT NULL REFERENCES portfolios (id), "
        "at TEXT NOT NULL, "
        "kind TEXT NOT NULL CHECK (kind IN ('trading', 'slippage', 'subscription', "
        "'redemption', 'management', 'funding', 'liquidation')), "
        "amount REAL NOT NULL, "
        "fill_id INTEGER REFERENCES fills (id))"
    )
    db.execute("INSERT INTO fees_new SELECT id, portfolio_id, at, kind, amount, fill_id FROM fees")
    db.execute("DROP TABLE fees")
    db.execute("ALTER TABLE fees_new RENAME TO fees")
    db.execute("CREATE INDEX fees_portfolio_at ON fees (portfolio_id, at)")
    db.execute(
        "CREATE UNIQUE INDEX fees_one_funding ON fees (portfolio_id, at) WHERE kind = 'funding'"
    )
    db.execute(
        "CREATE TABLE entry_refusals ("
        "portfolio_id TEXT NOT NULL REFERENCES portfolios (id), "
        "reason TEXT NOT NULL, day TEXT NOT NULL, count INTEGER NOT NULL, "
        "first_at TEXT NOT NULL, last_at TEXT NOT NULL, "
        "PRIMARY KEY (portfolio_id, reason, day))"
    )
    db.execute(
        "CREATE TABLE portfolio_deaths ("
        "portfolio_id TEXT PRIMARY KEY REFERENCES portfolios (id), "
        "at TEXT NOT NULL, cause TEXT NOT NULL)"
    )


@migrations(name="0007_run_coverage")
def m0007_run_coverage(db: Database) -> None:
    """What each run covers (issue 15): `runs.covered_to` is the step time of the run's last
    committed step, written in the same transaction as that step's rows.

    `ended_at` is stamped only when a run ends as it should (a daemon stopped by a signal, a
    replay whose data is exhausted), so a run with `ended_at` NULL was interrupted (or is still
    running) and covers `started_at`..`covered_to`. NULL `covered_to`: no step committed yet.
    A replay row written before (always complete: it was written at the end) gets its
    `ended_at`, which was its last step's time; a live row written before stays NULL (unknown).
    """
    db.execute("ALTER TABLE runs ADD COLUMN covered_to TEXT")
    db.execute("UPDATE runs SET covered_to = ended_at WHERE mode = 'replay'")
