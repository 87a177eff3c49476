"""The ledger's write side: runs, portfolios (with their vehicle parameters), engine steps and
report metrics.

`write_steps` writes everything one or more engine steps produced in a single transaction, so a
crash leaves either the whole group or none of it. Domain records are mapped to rows here;
domain classes know nothing of SQL. Every statement uses bound parameters. `LedgerWriter`
satisfies the `Ledger` port (bot/engine/ports.py) that a session writes through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from bot.adapters.sqlite.timefmt import format_time, parse_time
from bot.domain.records import FillRecord, PositionRecord
from bot.domain.values import Candle
from bot.engine.ports import EngineState, PortfolioRow, PortfolioStep, StepBatch


class LedgerWriter:
    """Every write to the ledger database `db` (migrations already applied)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._times = _TimeText()
        # The run this writer started: each `write_steps` moves its `covered_to`.
        self._run_id: int | None = None

    # -- runs and portfolios -------------------------------------------------------------

    def start_run(
        self, at: datetime, mode: str, exchange: str, config: Mapping[str, Any], version: str
    ) -> int:
        """Insert a `runs` row and return its id; the steps written from now on through this
        writer move the run's `covered_to` (the time of its last committed step)."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, mode, exchange, config, version) "
                "VALUES (?, ?, ?, ?, ?)",
                [format_time(at), mode, exchange, dumps(config), version],
            )
        self._run_id = int(cursor.lastrowid or 0)
        return self._run_id

    def end_run(self, run_id: int, at: datetime) -> None:
        """Stamp the run's end time: the run ended as it should (a run never stamped was
        interrupted and covers its `started_at`..`covered_to` only)."""
        with self.db.atomic():
            self.db.execute("UPDATE runs SET ended_at = ? WHERE id = ?", [format_time(at), run_id])

    def upsert_portfolios(self, rows: Sequence[PortfolioRow]) -> list[str]:
        """Insert or update portfolio definitions and store new portfolios' vehicle parameters.

        A portfolio's vehicle parameters are written once, when it is first registered, and
        never rewritten (reports read them instead of today's config). Returns the ids of the
        portfolios whose stored parameters differ from the ones given now, in id order.
        """
        given = {
            r.id: dumps(r.vehicle_params.to_dict()) for r in rows if r.vehicle_params is not None
        }
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
                        dumps(r.params),
                    )
                    for r in rows
                ],
            )
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO vehicle_params (portfolio_id, params) VALUES (?, ?)",
                list(given.items()),
            )
            stored = dict(self.db.execute("SELECT portfolio_id, params FROM vehicle_params"))
        return sorted(pid for pid, text in given.items() if stored[pid] != text)

    # -- engine steps --------------------------------------------------------------------

    def write_steps(self, batches: Sequence[StepBatch]) -> None:
        """Write steps in one transaction, all or (on any error) none of them: the daemon one
        step at a time, replay in groups for speed."""
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
            self._cover(batches)

    def _cover(self, batches: Sequence[StepBatch]) -> None:
        # In the steps' transaction: `covered_to` never names a step that was not committed.
        at = max((b.at for b in batches if b.at is not None), default=None)
        if self._run_id is not None and at is not None:
            self.db.execute(
                "UPDATE runs SET covered_to = ? WHERE id = ?", [format_time(at), self._run_id]
            )

    def record_candles(self, candles: Sequence[Candle]) -> None:
        """Record closed candles outside a step (a strategy's warm-up bars, received before
        the first poll: `received_at` NULL), in one transaction; ones already there stay."""
        rows = [
            (c.symbol, c.timeframe, format_time(c.at), c.open, c.high, c.low, c.close, c.volume)
            for c in candles
        ]
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO candles (symbol, timeframe, at, open, high, low, close, "
                "volume, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                rows,
            )

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
        if rows.refusals:
            many(
                "INSERT INTO entry_refusals (portfolio_id, reason, day, count, first_at, "
                "last_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (portfolio_id, reason, day) "
                "DO UPDATE SET count = count + excluded.count, last_at = excluded.last_at",
                rows.refusals,
            )
        if rows.deaths:
            # A death is written once: a replay of the same steps never moves it.
            many(
                "INSERT OR IGNORE INTO portfolio_deaths (portfolio_id, at, cause) VALUES (?, ?, ?)",
                rows.deaths,
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
        for r in step.refusals:
            at = times(r.at)
            rows.refusals.append((pid, r.reason.value, at[:10], 1, at, at))
        if step.death is not None:
            rows.deaths.append((pid, times(step.death.at), step.death.cause))

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

    # -- report metrics ------------------------------------------------------------------

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


def dumps(value: Mapping[str, Any]) -> str:
    """Canonical JSON text of a mapping (sorted keys), as the ledger stores it."""
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
    refusals: list[tuple[Any, ...]] = field(default_factory=list)
    deaths: list[tuple[Any, ...]] = field(default_factory=list)


_POSITION_COLUMNS = (
    "id", "portfolio_id", "symbol", "side", "opened_at", "entry", "qty", "stop", "take_profit",
    "risk_pct", "leverage", "liq_price", "closed_at", "exit_price", "pnl", "exit_reason",
    "intended_risk", "effective_risk", "margin",
)  # fmt: skip
_UPSERT_POSITION = (
    f"INSERT INTO positions ({', '.join(_POSITION_COLUMNS)}) "  # noqa: S608 (fixed names)
    f"VALUES ({', '.join('?' for _ in _POSITION_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _POSITION_COLUMNS if c != "id")
)


class _TimeText:
    """`format_time` with a bounded memo: one write formats the same instants many times.

    A replay step's candle opens at the previous step's quote time and `next_funding_at`
    repeats for hours, so most lookups hit. Only UTC datetimes are memoised (two equal ones are
    the same instant, hence the same text); the memo lives as long as its writer and is emptied
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
        "margin": p.margin,
    }
