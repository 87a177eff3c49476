"""Tear-sheet tables as plain strings (shared by the renderers; formats as in tables.py).

The monthly heat map is drawn by render_html from `PortfolioReport.monthly`; the per-trade
table shows the last TRADE_ROWS trades of a perp (the export has all of them).
"""

from __future__ import annotations

from datetime import datetime

from bot.reports.model import ExperimentReport, PortfolioReport
from bot.reports.tables import TextTable, duration, money, unsigned_pct

TRADE_ROWS = 25


def _at(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def drawdowns_table(e: ExperimentReport, end: datetime) -> TextTable | None:
    """The worst drawdown episodes of every portfolio (None when none had one)."""
    headers = ("vehicle", "#", "depth", "peak", "trough", "recovered", "length")
    rows = tuple(
        (
            p.vehicle,
            str(i),
            unsigned_pct(d.depth),
            _at(d.peak_at),
            _at(d.trough_at),
            _at(d.recovered_at) if d.recovered_at else "not yet",
            duration(d.length(end)),
        )
        for p in e.portfolios
        for i, d in enumerate(p.drawdowns, 1)
    )
    if not rows:
        return None
    numeric = (False, True, True, False, False, False, True)
    return TextTable(f"{e.name}: worst drawdowns (hourly grid)", headers, rows, numeric)


def trades_summary(p: PortfolioReport) -> str:
    """One line on a perp's trades: count, win rate, net PnL, fees, funding, mean holding."""
    closed = [t for t in p.trades if t.pnl is not None]
    wins = sum(1 for t in closed if t.pnl is not None and t.pnl > 0)
    held = [t.duration.total_seconds() / 3600 for t in closed if t.duration is not None]
    mean = f"{sum(held) / len(held):,.1f} h" if held else "n/a"
    rate = f"{wins / len(closed) * 100:.1f} %" if closed else "n/a"
    return (
        f"{p.vehicle}: {len(p.trades):,} trades ({len(closed):,} closed, {rate} won), "
        f"net PnL {money(sum(t.pnl or 0.0 for t in closed))} USDT, fees "
        f"{money(sum(t.fees for t in p.trades))}, funding {money(sum(t.funding for t in p.trades))}"
        f" (costs > 0), mean holding {mean}."
    )


def trades_table(p: PortfolioReport) -> TextTable:
    """The last TRADE_ROWS trades of a perp portfolio (money in USDT, costs > 0)."""
    headers = (
        "opened", "closed", "side", "qty", "entry", "exit", "reason", "PnL (net)", "fees",
        "funding", "held",
    )  # fmt: skip
    rows = tuple(
        (
            _at(t.opened_at),
            _at(t.closed_at),
            t.side,
            f"{t.qty:g}",
            f"{t.entry:g}",
            "-" if t.exit is None else f"{t.exit:g}",
            t.reason,
            "-" if t.pnl is None else money(t.pnl),
            money(t.fees),
            money(t.funding),
            "-" if t.duration is None else duration(t.duration),
        )
        for t in p.trades[-TRADE_ROWS:]
    )
    shown = "" if len(p.trades) <= TRADE_ROWS else f" (last {TRADE_ROWS} of {len(p.trades):,})"
    numeric = (False, False, False, True, True, True, False, True, True, True, True)
    return TextTable(f"{p.vehicle}: trades{shown}", headers, rows, numeric)


def rebalance_table(p: PortfolioReport) -> TextTable:
    """A token portfolio's rebalances per month or year (money in USDT, fees > 0)."""
    headers = ("period", "rebalances", "notional traded", "fees", "mean |L| before", "after")
    rows = tuple(
        (
            r.period,
            f"{r.count:,}",
            money(r.notional),
            money(r.fees),
            f"{r.mean_leverage_before:.2f}x",
            f"{r.mean_leverage_after:.2f}x",
        )
        for r in p.rebalance_summary
    )
    numeric = (False,) + (True,) * 5
    return TextTable(f"{p.vehicle}: rebalances", headers, rows, numeric)


def monthly_grid(p: PortfolioReport) -> tuple[list[str], dict[str, dict[int, float]]]:
    """The years of `p.monthly` and, per year, month number -> return (a fraction); a dead
    portfolio's months after the month it died in are left out (they are all 0)."""
    last = None if p.died_at is None else f"{p.died_at:%Y-%m}"
    years: dict[str, dict[int, float]] = {}
    for m in p.monthly:
        if last is not None and m.month > last:
            break
        year, month = m.month.split("-")
        years.setdefault(year, {})[int(month)] = m.value
    return sorted(years), years


def year_return(months: dict[int, float]) -> float:
    """The compounded return of a year's months."""
    growth = 1.0
    for value in months.values():
        growth *= 1 + value
    return growth - 1
