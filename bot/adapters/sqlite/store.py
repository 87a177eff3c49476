"""The SQLite ledger: the only module that talks to sqlite-utils.

`Store(path)` creates the parent directory, opens the file in WAL mode and applies pending
migrations (idempotent). `write_step` writes everything one engine step produced in a single
transaction, so a crash leaves either the whole step or none of it. Domain records are mapped
to rows here; domain classes know nothing of SQL. Every statement uses bound parameters.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.adapters.sqlite.migrations import migrations
from bot.adapters.sqlite.timefmt import format_time, parse_time
from bot.domain.ledger import FeeRecord, FillRecord, NavRecord, PositionRecord, TokenEventRecord
from bot.domain.values import Candle, FundingRate, Quote

TABLES = (
    "runs",
    "ticks",
    "candles",
    "funding_rates",
    "portfolios",
    "fills",
    "fees",
    "nav",
    "token_events",
    "positions",
)


class StoreError(RuntimeError):
    """The database cannot be opened or is not an ltbot ledger."""


@dataclass(frozen=True, slots=True)
class PortfolioRow:
    """One row of `portfolios`; `id` is stable across restarts (experiment/vehicle)."""

    id: str
    experiment: str
    vehicle: str
    strategy: str
    symbol: str
    capital: float
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PortfolioStep:
    """What one step did to one portfolio: new ledger records and position upserts."""

    portfolio_id: str
    fills: Sequence[FillRecord] = ()
    fees: Sequence[FeeRecord] = ()
    token_events: Sequence[TokenEventRecord] = ()
    positions: Sequence[PositionRecord] = ()
    nav: Sequence[NavRecord] = ()


@dataclass(frozen=True, slots=True)
class StepBatch:
    """Everything one engine step writes, in one transaction."""

    quotes: Sequence[Quote] = ()
    candles: Sequence[Candle] = ()
    funding_rates: Sequence[FundingRate] = ()
    portfolios: Sequence[PortfolioStep] = ()
    state: EngineState | None = None
    # The step's time (the session sets it), stored as the `received_at` of the batch's
    # candles and funding rates; None (market data written outside a step) stores NULL, and
    # a replay hands such rows to the first step at or after their close time.
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EngineState:
    """The engine's resume state after a step (`text` is JSON from bot.runtime.state_codec)."""

    key: str
    at: datetime
    text: str


class Store:
    """The ledger database. Use as a context manager or call `close()`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = _open(self.path)
        migrations.apply(self.db)
        self._times = _TimeText()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self.db.close()

    def use_scratch_mode(self) -> None:
        """Trade durability for speed: only for a database rebuilt from scratch on every run.

        `ltbot replay` empties its database before each run and can always write it again, so
        nothing is fsynced. The WAL journal stays: a killed process (SIGKILL, Ctrl-C) still
        leaves a consistent file that the next replay can open and wipe; only an OS crash or a
        power cut during the run may leave it unusable. (An in-memory journal saved another
        ~1 % of the 5m replay but a killed replay could corrupt the file.) Never for a live
        ledger: its resume relies on every committed step being durable.
        """
        self.db.execute("PRAGMA synchronous=OFF")

    # -- runs and portfolios -------------------------------------------------------------

    def start_run(
        self, at: datetime, mode: str, exchange: str, config: Mapping[str, Any], version: str
    ) -> int:
        """Insert a `runs` row and return its id."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, mode, exchange, config, version) "
                "VALUES (?, ?, ?, ?, ?)",
                [format_time(at), mode, exchange, _dumps(config), version],
            )
        return int(cursor.lastrowid or 0)

    def end_run(self, run_id: int, at: datetime) -> None:
        """Stamp the run's end time."""
        with self.db.atomic():
            self.db.execute("UPDATE runs SET ended_at = ? WHERE id = ?", [format_time(at), run_id])

    def upsert_portfolios(self, rows: Sequence[PortfolioRow]) -> None:
        """Insert or update portfolio definitions."""
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT INTO portfolios (id, experiment, vehicle, strategy, symbol, capital, "
                "params) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "experiment = excluded.experiment, vehicle = excluded.vehicle, "
                "strategy = excluded.strategy, symbol = excluded.symbol, "
                "capital = excluded.capital, params = excluded.params",
                [
                    (
                        r.id,
                        r.experiment,
                        r.vehicle,
                        r.strategy,
                        r.symbol,
                        r.capital,
                        _dumps(r.params),
                    )
                    for r in rows
                ],
            )

    # -- writing -------------------------------------------------------------------------

    def record_market(
        self,
        quotes: Sequence[Quote] = (),
        candles: Sequence[Candle] = (),
        funding: Sequence[FundingRate] = (),
    ) -> None:
        """Write market data in one transaction; exact duplicates (same key) are ignored."""
        self.write_step(StepBatch(quotes=quotes, candles=candles, funding_rates=funding))

    def write_step(self, batch: StepBatch) -> None:
        """Write a whole engine step atomically: all of it or, on any error, none of it."""
        self.write_steps([batch])

    def write_steps(self, batches: Sequence[StepBatch]) -> None:
        """Write several steps in one transaction (replay groups steps for speed)."""
        # Rows are gathered for one executemany per table; each table still receives its rows
        # in step order, so row ids are the same as one step at a time. Fills go one by one
        # (fees need their ids).
        rows = _Rows()
        times = self._times
        # Tick and candle rows are built inline (this loop runs once per replayed bar), and
        # `known.get(at) or times(at)` is `times(at)` without a call when the text is memoised.
        known = times.texts
        ticks, candles = rows.ticks, rows.candles
        with self.db.atomic():
            for batch in batches:
                for q in batch.quotes:
                    nxt = q.next_funding_at
                    ticks.append(
                        (
                            known.get(q.at) or times(q.at),
                            q.symbol,
                            q.last,
                            q.mark,
                            q.index_price,
                            q.bid,
                            q.ask,
                            q.funding_rate,
                            None if nxt is None else known.get(nxt) or times(nxt),
                        )
                    )
                if batch.candles or batch.funding_rates:
                    got = _received_at(batch, times)
                    for c in batch.candles:
                        candles.append(
                            (
                                c.symbol,
                                c.timeframe,
                                known.get(c.at) or times(c.at),
                                c.open,
                                c.high,
                                c.low,
                                c.close,
                                c.volume,
                                got,
                            )
                        )
                    rows.funding += [
                        (f.symbol, times(f.at), f.rate, got) for f in batch.funding_rates
                    ]
                for step in batch.portfolios:
                    self._gather_portfolio_step(step, rows, times)
                if batch.state is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO engine_state (key, at, state) VALUES (?, ?, ?)",
                        [batch.state.key, format_time(batch.state.at), batch.state.text],
                    )
            self._insert_rows(rows)

    def delete_ticks_before(self, before: datetime, limit: int) -> int:
        """Delete at most `limit` of the oldest ticks recorded before `before`, in one short
        transaction; return how many went (fewer than `limit`: none are left before `before`).

        Only `ticks` shrinks: candles, funding rates and every ledger table stay, so reports
        and resumes are unaffected; a recorded session replays exactly only where its ticks
        remain. Called in batches by the retention job (bot/runtime/maintenance.py).
        """
        with self.db.atomic():
            cursor = self.db.conn.execute(
                "DELETE FROM ticks WHERE rowid IN "
                "(SELECT rowid FROM ticks WHERE at < ? ORDER BY at LIMIT ?)",
                [format_time(before), limit],
            )
        return int(cursor.rowcount)

    def load_state(self, key: str) -> EngineState | None:
        """The engine state saved under `key` by the last committed step, if any."""
        rows = list(self.db.query("SELECT * FROM engine_state WHERE key = ?", [key]))
        if not rows:
            return None
        return EngineState(key, parse_time(rows[0]["at"]), rows[0]["state"])

    def _insert_rows(self, rows: _Rows) -> None:
        many = self.db.conn.executemany
        if rows.ticks:
            many(
                "INSERT OR IGNORE INTO ticks (at, symbol, last, mark, index_price, bid, ask, "
                "funding_rate, next_funding_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows.ticks,
            )
        if rows.candles:
            many(
                "INSERT OR IGNORE INTO candles (symbol, timeframe, at, open, high, low, close, "
                "volume, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows.candles,
            )
        if rows.funding:
            many(
                "INSERT OR IGNORE INTO funding_rates (symbol, at, rate, received_at) "
                "VALUES (?, ?, ?, ?)",
                rows.funding,
            )
        if rows.fees:
            many(
                "INSERT INTO fees (portfolio_id, at, kind, amount, fill_id) VALUES (?, ?, ?, ?, ?)",
                rows.fees,
            )
        if rows.events:
            many(
                "INSERT INTO token_events (portfolio_id, at, kind, leverage_before, "
                "leverage_after, nav_per_unit, notional_traded) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows.events,
            )
        if rows.positions:
            many(_UPSERT_POSITION, rows.positions)
        if rows.navs:
            many(
                "INSERT OR REPLACE INTO nav (portfolio_id, at, nav, cash, exposure, leverage, "
                "price) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows.navs,
            )

    def _gather_portfolio_step(self, step: PortfolioStep, rows: _Rows, times: _TimeText) -> None:
        pid = step.portfolio_id
        fill_ids = [self._insert_fill(pid, fill) for fill in step.fills]
        for fee in step.fees:
            fill_id = fill_ids[fee.fill_index] if fee.fill_index is not None else None
            rows.fees.append((pid, times(fee.at), fee.kind.value, fee.amount, fill_id))
        rows.events += [
            (
                pid,
                times(e.at),
                e.kind.value,
                e.leverage_before,
                e.leverage_after,
                e.nav_per_unit,
                e.notional_traded,
            )
            for e in step.token_events
        ]
        for position in step.positions:
            row = _position_row(pid, position)
            rows.positions.append(tuple(row[c] for c in _POSITION_COLUMNS))
        known = times.texts
        rows.navs += [
            (pid, known.get(n.at) or times(n.at), n.nav, n.cash, n.exposure, n.leverage, n.price)
            for n in step.nav
        ]

    def _insert_fill(self, portfolio_id: str, fill: FillRecord) -> int:
        cursor = self.db.execute(
            "INSERT INTO fills (portfolio_id, at, instrument, side, qty, price, fee, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                portfolio_id,
                format_time(fill.at),
                fill.instrument,
                fill.side,
                fill.qty,
                fill.price,
                fill.fee,
                fill.reason.value,
            ],
        )
        return int(cursor.lastrowid or 0)

    # -- reading -------------------------------------------------------------------------

    def rows(
        self,
        table: str,
        where: str | None = None,
        params: Sequence[Any] = (),
        order_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of a ledger table as dicts (for reports and tests); `table` must be known."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return list(self.db[table].rows_where(where, list(params), order_by=order_by))

    def count(self, table: str) -> int:
        """Number of rows in a ledger table."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self.db[table].count)

    def iter_ticks(
        self,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[Quote]:
        """Recorded quotes in time order (then symbol), optionally filtered; `end` inclusive."""
        where, params = _time_filter(start, end)
        if symbols is not None:
            where.append(f"symbol IN ({', '.join('?' for _ in symbols)})")
            params.extend(symbols)
        sql = "SELECT * FROM ticks" + _where(where) + " ORDER BY at, symbol"
        for row in self.db.query(sql, params):
            yield _quote_from_row(row)

    def iter_candles(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[Candle]:
        """Recorded candles of one symbol and timeframe in time order."""
        where, params = _time_filter(start, end)
        where[:0] = ["symbol = ?", "timeframe = ?"]
        params[:0] = [symbol, timeframe]
        for row in self.db.query("SELECT * FROM candles" + _where(where) + " ORDER BY at", params):
            yield Candle(
                symbol=row["symbol"],
                timeframe=row["timeframe"],
                at=parse_time(row["at"]),
                open=row["open"],
                high=row["high"],
                low=row["low"],
                close=row["close"],
                volume=row["volume"],
            )

    def portfolio_summaries(self) -> list[dict[str, Any]]:
        """Per portfolio: definition, latest NAV row, fee totals by kind, fill counts by reason
        and token event counts (for end-of-run comparison tables)."""
        sql = """
        SELECT p.id, p.experiment, p.vehicle, p.symbol, p.capital,
          (SELECT nav FROM nav WHERE portfolio_id = p.id ORDER BY at DESC LIMIT 1) AS nav,
          (SELECT leverage FROM nav WHERE portfolio_id = p.id ORDER BY at DESC LIMIT 1)
            AS leverage,
          (SELECT COALESCE(SUM(amount), 0) FROM fees WHERE portfolio_id = p.id
             AND kind != 'funding') AS fees,
          (SELECT COALESCE(SUM(amount), 0) FROM fees WHERE portfolio_id = p.id
             AND kind = 'funding') AS funding,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id) AS fills,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id AND reason = 'stop') AS stops,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id AND reason = 'liquidation')
            AS liquidations,
          (SELECT COUNT(*) FROM token_events WHERE portfolio_id = p.id AND kind = 'rebalance')
            AS rebalances
        FROM portfolios p ORDER BY p.experiment, p.id
        """
        return [dict(row) for row in self.db.query(sql)]

    def last_candle_at(self, symbol: str, timeframe: str) -> datetime | None:
        """Open time of the latest recorded candle of a series, if any."""
        rows = list(
            self.db.query(
                "SELECT MAX(at) AS at FROM candles WHERE symbol = ? AND timeframe = ?",
                [symbol, timeframe],
            )
        )
        return None if rows[0]["at"] is None else parse_time(rows[0]["at"])

    def newest_tick_at(self) -> datetime | None:
        """Time of the newest recorded tick, if any (the `ticks_at` index: no scan)."""
        row = self.db.conn.execute("SELECT MAX(at) FROM ticks").fetchone()
        return None if row[0] is None else parse_time(row[0])

    def funding_rates(
        self, symbol: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[FundingRate]:
        """Recorded settled funding rates of one symbol in time order."""
        where, params = _time_filter(start, end)
        where.insert(0, "symbol = ?")
        params.insert(0, symbol)
        sql = "SELECT * FROM funding_rates" + _where(where) + " ORDER BY at"
        return [
            FundingRate(symbol=r["symbol"], at=parse_time(r["at"]), rate=r["rate"])
            for r in self.db.query(sql, params)
        ]

    # -- reports -------------------------------------------------------------------------

    @classmethod
    def open_ledger(cls, path: Path | str) -> Store:
        """Open an existing ledger; StoreError when the file is missing or not an ltbot ledger.

        Unlike `Store(path)` it never creates a database, and it checks the file read-only
        before migrations run, so a foreign SQLite file is left untouched.
        """
        target = Path(path)
        if not target.is_file():
            raise StoreError(f"{target}: no such database")
        try:
            with closing(sqlite3.connect(target.resolve().as_uri() + "?mode=ro", uri=True)) as c:
                found = c.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                    "('portfolios', 'nav', '_sqlite_migrations')"
                ).fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{target}: not a usable SQLite database ({exc})") from None
        if found != 3:
            raise StoreError(f"{target}: not an ltbot ledger (no portfolios/nav tables)")
        return cls(target)

    def report_rows(self, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
        """Ledger rows a report over the window (start, end] needs, as plain dicts.

        `nav`: each portfolio's last row at or before `start` plus every row in (start, end];
        `fills`, `fees`, `token_events`: rows in (start, end]; `positions`: opened at or before
        `end` and not closed at or before `start`; `rebalance_leverage`: `leverage_after` of
        every rebalance up to `end` (to infer a token's target leverage).
        """
        lo, hi = format_time(start), format_time(end)
        window = "at > ? AND at <= ?"
        # CROSS JOIN keeps portfolios the outer loop (SQLite's rule), so both halves search the
        # (portfolio_id, at) primary key per portfolio instead of scanning every NAV row.
        nav_sql = (
            "SELECT n.* FROM portfolios p CROSS JOIN nav n WHERE n.portfolio_id = p.id AND "
            "n.at = (SELECT max(at) FROM nav WHERE portfolio_id = p.id AND at <= ?) UNION ALL "
            "SELECT n.* FROM portfolios p CROSS JOIN nav n WHERE n.portfolio_id = p.id "
            "AND n.at > ? AND n.at <= ? ORDER BY portfolio_id, at"
        )
        return {
            "portfolios": self.rows("portfolios", order_by="id"),
            "nav": list(self.db.query(nav_sql, [lo, lo, hi])),
            "fills": self.rows("fills", window, [lo, hi], order_by="at, id"),
            "fees": self.rows("fees", window, [lo, hi], order_by="at, id"),
            "token_events": self.rows("token_events", window, [lo, hi], order_by="at, id"),
            "positions": self.rows(
                "positions",
                "opened_at <= ? AND (closed_at IS NULL OR closed_at > ?)",
                [hi, lo],
                order_by="opened_at, id",
            ),
            "rebalance_leverage": list(
                self.db.query(
                    "SELECT portfolio_id, leverage_after FROM token_events "
                    "WHERE kind = 'rebalance' AND at <= ? ORDER BY portfolio_id, at, id",
                    [hi],
                )
            ),
        }

    def write_report_metrics(
        self,
        period: str,
        start: datetime,
        end: datetime,
        timezone: str,
        values: Sequence[tuple[str, str, float | None]],
    ) -> None:
        """Replace the stored metrics of `period` by `values` (portfolio_id, metric, value)."""
        with self.db.atomic():
            self.db.execute("DELETE FROM report_metrics WHERE period = ?", [period])
            self.db.conn.executemany(
                "INSERT INTO report_metrics (period, start_at, end_at, timezone, portfolio_id, "
                "metric, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (period, format_time(start), format_time(end), timezone, pid, metric, value)
                    for pid, metric, value in values
                ],
            )

    def report_metrics(self, period: str) -> list[dict[str, Any]]:
        """Stored metrics of one report period, ordered by portfolio and metric."""
        sql = "SELECT * FROM report_metrics WHERE period = ? ORDER BY portfolio_id, metric"
        return list(self.db.query(sql, [period]))


def _open(path: Path) -> Database:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        # The daemon's poll job runs in a scheduler worker thread (one at a time:
        # max_instances=1), so the connection may be used by a thread other than its creator.
        db = Database(sqlite3.connect(path, check_same_thread=False))
        if new:
            os.chmod(path, 0o600)  # the ledger is private to its owner
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        return db
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
    except Exception as exc:  # sqlite3.DatabaseError for a corrupt or non-SQLite file
        raise StoreError(f"{path}: not a usable SQLite database ({exc})") from None


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _opt_time(at: datetime | None) -> str | None:
    return None if at is None else format_time(at)


@dataclass(slots=True)
class _Rows:
    """Rows of one `write_steps` call, per table, in step order."""

    ticks: list[tuple[Any, ...]] = field(default_factory=list)
    candles: list[tuple[Any, ...]] = field(default_factory=list)
    funding: list[tuple[Any, ...]] = field(default_factory=list)
    fees: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    positions: list[tuple[Any, ...]] = field(default_factory=list)
    navs: list[tuple[Any, ...]] = field(default_factory=list)


_POSITION_COLUMNS = (
    "id",
    "portfolio_id",
    "symbol",
    "side",
    "opened_at",
    "entry",
    "qty",
    "stop",
    "take_profit",
    "risk_pct",
    "leverage",
    "liq_price",
    "closed_at",
    "exit_price",
    "pnl",
    "exit_reason",
    "intended_risk",
    "effective_risk",
)
_UPSERT_POSITION = (
    f"INSERT INTO positions ({', '.join(_POSITION_COLUMNS)}) "  # noqa: S608 (fixed names)
    f"VALUES ({', '.join('?' for _ in _POSITION_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _POSITION_COLUMNS if c != "id")
)


class _TimeText:
    """`format_time` with a bounded memo: one write formats the same instants many times.

    A replay step's candle opens at the previous step's quote time and `next_funding_at`
    repeats for hours, so most lookups hit. Only UTC datetimes are memoised (two equal ones are
    the same instant, hence the same text); the memo lives as long as its Store and is emptied
    when it reaches `limit` entries.
    """

    def __init__(self, limit: int = 4096) -> None:
        # Text by datetime; `texts.get(at)` is the text of any datetime equal to `at` (the
        # same instant: an aware datetime never equals a naive one, nor one in a repeated
        # local hour of another zone), else None.
        self.texts: dict[datetime, str] = {}
        self._limit = limit

    def __call__(self, at: datetime) -> str:
        if type(at) is not datetime or at.tzinfo is not UTC or at.year < 1000:
            return format_time(at)
        text = self.texts.get(at)
        if text is None:
            # Same text as format_time: ISO 8601 truncated to milliseconds, "Z" for +00:00.
            text = at.isoformat(timespec="milliseconds")[:23] + "Z"
            if len(self.texts) >= self._limit:
                self.texts.clear()
            self.texts[at] = text
        return text


def _quote_from_row(row: Mapping[str, Any]) -> Quote:
    nxt = row["next_funding_at"]
    return Quote(
        symbol=row["symbol"],
        at=parse_time(row["at"]),
        last=row["last"],
        mark=row["mark"],
        index_price=row["index_price"],
        bid=row["bid"],
        ask=row["ask"],
        funding_rate=row["funding_rate"],
        next_funding_at=None if nxt is None else parse_time(nxt),
    )


def _received_at(batch: StepBatch, times: Any) -> str | None:
    """The step time of a batch as text (the `received_at` of its candles and funding)."""
    return None if batch.at is None else str(times(batch.at))


def _position_row(portfolio_id: str, p: PositionRecord) -> dict[str, Any]:
    return {
        "id": p.id,
        "portfolio_id": portfolio_id,
        "symbol": p.symbol,
        "side": p.side,
        "opened_at": format_time(p.opened_at),
        "entry": p.entry,
        "qty": p.qty,
        "stop": p.stop,
        "take_profit": p.take_profit,
        "risk_pct": p.risk_pct,
        "leverage": p.leverage,
        "liq_price": p.liq_price,
        "closed_at": _opt_time(p.closed_at),
        "exit_price": p.exit_price,
        "pnl": p.pnl,
        "exit_reason": p.exit_reason,
        "intended_risk": p.intended_risk,
        "effective_risk": p.effective_risk,
    }


def _time_filter(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append("at >= ?")
        params.append(format_time(start))
    if end is not None:
        where.append("at <= ?")
        params.append(format_time(end))
    return where, params


def _where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""
