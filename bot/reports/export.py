"""Export the report model as JSON or CSV files in a stable schema (docs/REPORTS.md, "Export").

`write_export(report, out_dir, "json" | "csv")` writes one file per table, `<out_dir>/<table>.json`
(a JSON array of records) or `<out_dir>/<table>.csv` (a header row, then one row per record),
plus `<out_dir>/meta.json` (schema version, window, rank measure, notes, the columns of every
table); `export_json(report)` gives all of it as one JSON document. A notebook loads a table
with one call: `pandas.read_json(out_dir / "trades.json")` or
`pandas.read_csv(out_dir / "trades.csv")`. Columns never change order or meaning within a
SCHEMA_VERSION; new columns bump it. Times are ISO 8601 UTC strings, returns and ratios are
fractions, money is USDT, an undefined value is null (JSON) or empty (CSV). Signs as in the
report: costs > 0 in cost columns, attribution terms signed (a cost < 0).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.reports.model import FEE_KINDS, ExperimentReport, PortfolioReport, Report

SCHEMA_VERSION = 1
DAILY_NAV_AFTER = timedelta(days=31)  # longer windows export one NAV row per local day
Record = dict[str, Any]

COLUMNS: dict[str, tuple[str, ...]] = {
    "portfolios": (
        "experiment", "portfolio_id", "vehicle", "strategy", "symbol", "rank", "rank_by",
        "capital", "nav_start", "nav_end", "return", "annual_return", "max_drawdown",
        "underwater_days", "volatility", "sharpe", "sortino", "calmar", "fills", "stops",
        "take_profits", "liquidations", "rebalances", "reverse_splits",
        *(f"fee_{k}" for k in FEE_KINDS), "funding_paid", "funding_received", "costs",
        "exposure_end", "leverage_end", "price_start", "price_end", "died_at", "death_cause",
    ),
    "attribution": (
        "portfolio_id", "target_leverage", "leverage_source", "underlying_log", "benchmark_log",
        "token_log", "gap", "decay", "rebalancing", "management", "funding",
        "subscription_redemption", "decay_estimate", "realised_variance", "until",
    ),
    "monthly_returns": ("portfolio_id", "month", "return"),
    "drawdowns": (
        "portfolio_id", "rank", "depth", "peak_at", "trough_at", "recovered_at", "days",
    ),
    "trades": (
        "portfolio_id", "opened_at", "closed_at", "side", "qty", "entry", "exit", "reason",
        "pnl", "fees", "funding", "hours",
    ),
    "rebalances": (
        "portfolio_id", "period", "count", "notional", "fees", "mean_leverage_before",
        "mean_leverage_after",
    ),
    "fees_daily": ("portfolio_id", "day", "kind", "amount"),
    "nav": ("portfolio_id", "at", "nav", "exposure", "leverage", "price"),
}  # fmt: skip


def report_tables(report: Report) -> dict[str, list[Record]]:
    """Every table of the report as records (column -> value), in COLUMNS order."""
    builders: dict[str, Callable[[ExperimentReport, int, PortfolioReport], Iterable[Record]]] = {
        "portfolios": _portfolio_rows,
        "attribution": lambda e, r, p: _attribution_rows(p),
        "monthly_returns": lambda e, r, p: (
            {"month": m.month, "return": m.value} for m in p.monthly
        ),
        "drawdowns": lambda e, r, p: _drawdown_rows(p, report.period.end),
        "trades": lambda e, r, p: _trade_rows(p),
        "rebalances": lambda e, r, p: (
            {k: getattr(s, k) for k in COLUMNS["rebalances"][1:]} for s in p.rebalance_summary
        ),
        "fees_daily": lambda e, r, p: _daily_fees(p, report.period.timezone),
        "nav": lambda e, r, p: _nav_rows(p, report),
    }
    tables: dict[str, list[Record]] = {}
    for name, build in builders.items():
        rows = []
        for e in report.experiments:
            for rank, p in enumerate(e.portfolios, 1):
                for row in build(e, rank, p):
                    record = {"portfolio_id": p.id, **row}
                    rows.append({c: _plain(record.get(c)) for c in COLUMNS[name]})
        tables[name] = rows
    return tables


def write_export(report: Report, out_dir: Path, fmt: Literal["json", "csv"]) -> list[Path]:
    """Write every table as `<out_dir>/<table>.<fmt>` and `meta.json`; return the paths
    written (meta.json first). `out_dir` is created; existing files are replaced."""
    if fmt not in ("json", "csv"):
        raise ValueError(f"export format must be json or csv, not {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = report_tables(report)
    meta = out_dir / "meta.json"
    meta.write_text(json.dumps(export_meta(report), indent=2) + "\n", encoding="utf-8")
    paths = [meta]
    for name, rows in tables.items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rows, allow_nan=False) + "\n", encoding="utf-8")
        else:
            _write_csv(path, COLUMNS[name], rows)
        paths.append(path)
    return paths


def export_json(report: Report) -> str:
    """The whole export as one JSON document (for stdout): meta.json's fields plus `tables`
    (table name -> records); `pandas.DataFrame(document["tables"]["trades"])` loads one."""
    document = export_meta(report) | {"tables": report_tables(report)}
    return json.dumps(document, allow_nan=False) + "\n"


def export_meta(report: Report) -> Record:
    """What `meta.json` holds: schema version, window, rank measure, notes, `columns` (table
    name -> its column names)."""
    p = report.period
    long_window = p.end - p.start > DAILY_NAV_AFTER
    return {
        "schema": SCHEMA_VERSION,
        "period": {"label": p.label, "start": _time(p.start), "end": _time(p.end),
                   "timezone": p.timezone},
        "rank_by": report.experiments[0].rank_by if report.experiments else None,
        "nav_sampling": "daily" if long_window else "hourly",
        "notes": list(report.notes),
        "columns": {name: list(columns) for name, columns in COLUMNS.items()},
    }  # fmt: skip


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Record]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else _cell(row[c]) for c in columns])


def _cell(value: Any) -> str:
    # repr() of a float round-trips exactly; bools as true/false like JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _time(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).isoformat()


def _portfolio_rows(e: ExperimentReport, rank: int, p: PortfolioReport) -> list[Record]:
    row: Record = {
        "experiment": e.name, "vehicle": p.vehicle, "strategy": p.strategy,
        "symbol": p.symbol, "rank": rank, "rank_by": e.rank_by, "capital": p.capital,
        "nav_start": p.nav_start, "nav_end": p.nav_end, "return": p.total_return,
        "annual_return": p.annual_return, "max_drawdown": p.max_drawdown,
        "underwater_days": p.underwater.total_seconds() / 86400, "volatility": p.volatility,
        "sharpe": p.sharpe, "sortino": p.sortino, "calmar": p.calmar, "fills": p.fills,
        "stops": p.stops, "take_profits": p.take_profits, "liquidations": p.liquidations,
        "rebalances": p.rebalances, "reverse_splits": p.reverse_splits,
        "funding_paid": p.funding_paid, "funding_received": p.funding_received,
        "costs": p.costs, "exposure_end": p.exposure_end, "leverage_end": p.leverage_end,
        "price_start": p.price_start, "price_end": p.price_end, "died_at": p.died_at,
        "death_cause": p.death_cause,
    }  # fmt: skip
    row |= {f"fee_{k}": p.fees.get(k, 0.0) for k in FEE_KINDS}
    return [row]


def _attribution_rows(p: PortfolioReport) -> list[Record]:
    t = p.token
    if t is None:
        return []
    return [{c: getattr(t, c) for c in COLUMNS["attribution"][1:]}]


def _drawdown_rows(p: PortfolioReport, end: datetime) -> Iterable[Record]:
    for rank, d in enumerate(p.drawdowns, 1):
        yield {
            "rank": rank, "depth": d.depth, "peak_at": d.peak_at, "trough_at": d.trough_at,
            "recovered_at": d.recovered_at, "days": d.length(end).total_seconds() / 86400,
        }  # fmt: skip


def _trade_rows(p: PortfolioReport) -> Iterable[Record]:
    for t in p.trades:
        hours = None if t.duration is None else t.duration.total_seconds() / 3600
        yield {
            "opened_at": t.opened_at, "closed_at": t.closed_at, "side": t.side, "qty": t.qty,
            "entry": t.entry, "exit": t.exit, "reason": t.reason, "pnl": t.pnl,
            "fees": t.fees, "funding": t.funding, "hours": hours,
        }  # fmt: skip


def _daily_fees(p: PortfolioReport, timezone: str) -> Iterable[Record]:
    zone = ZoneInfo(timezone)
    totals: dict[tuple[str, str], float] = {}
    for f in p.fee_events:
        key = (f.at.astimezone(zone).date().isoformat(), f.kind)
        totals[key] = totals.get(key, 0.0) + f.amount
    for (day, kind), amount in sorted(totals.items()):
        yield {"day": day, "kind": kind, "amount": amount}


def _nav_rows(p: PortfolioReport, report: Report) -> Iterable[Record]:
    period = report.period
    points: Sequence[Any] = p.grid
    if period.end - period.start > DAILY_NAV_AFTER:
        zone = ZoneInfo(period.timezone)
        # The NAV at each local day's close (a point at midnight closes the day before).
        tick = timedelta(microseconds=1)
        last: Mapping[Any, Any] = {(g.at - tick).astimezone(zone).date(): g for g in p.grid[1:]}
        points = [p.grid[0], *last.values()] if p.grid else []
    for g in points:
        yield {
            "at": g.at, "nav": g.nav, "exposure": g.exposure, "leverage": g.leverage,
            "price": g.price,
        }  # fmt: skip
