"""Tear-sheet tables from a portfolio's hourly NAV grid and token events (pure, no I/O).

- Monthly returns: calendar months of the report's timezone; a month's return is its last grid
  NAV over the previous month's last grid NAV (the window's start NAV for the first month),
  minus 1; a partial first or last month covers only the part inside the window.
- Worst drawdowns: the deepest peak-to-trough falls of the grid NAV that do not overlap, each
  with its peak, trough and recovery time (None when it had not recovered by the window's end).
- Rebalance summary: a token portfolio's `rebalance` events per calendar month (per year when
  the window is longer than two years), with the notional traded and the trading + slippage
  fees booked at those events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters.sqlite.timefmt import parse_time
from bot.reports.points import SeriesPoint

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MonthReturn:
    """The simple return (a fraction) of calendar month `month` (`YYYY-MM`)."""

    month: str
    value: float


@dataclass(frozen=True, slots=True)
class Drawdown:
    """One drawdown episode: `depth` a positive fraction of the peak NAV."""

    peak_at: datetime
    trough_at: datetime
    recovered_at: datetime | None
    depth: float

    def length(self, end: datetime) -> timedelta:
        """Peak to recovery (to `end` when not recovered)."""
        return (self.recovered_at or end) - self.peak_at


@dataclass(frozen=True, slots=True)
class RebalanceSummary:
    """A token portfolio's rebalances in `period` (`YYYY-MM` or `YYYY`): money in USDT."""

    period: str
    count: int
    notional: float
    fees: float
    mean_leverage_before: float
    mean_leverage_after: float


def monthly_returns(
    grid: Sequence[SeriesPoint], nav_start: float, timezone: str
) -> tuple[MonthReturn, ...]:
    """Each calendar month's return (see the module docstring); none without a grid."""
    zone = ZoneInfo(timezone)
    last_by_month: dict[str, float] = {}
    # The window's start point belongs to the month before (it is that month's close); a
    # point at a month's first midnight closes the month before it.
    tick = timedelta(microseconds=1)
    for point in grid[1:]:
        local = (point.at - tick).astimezone(zone)
        last_by_month[f"{local.year:04d}-{local.month:02d}"] = point.nav
    out = []
    previous = nav_start
    for month, nav in last_by_month.items():
        out.append(MonthReturn(month, nav / previous - 1 if previous > 0 else 0.0))
        previous = nav
    return tuple(out)


def worst_drawdowns(grid: Sequence[SeriesPoint], count: int = 5) -> tuple[Drawdown, ...]:
    """The `count` deepest drawdown episodes of the grid NAV, deepest first."""
    episodes: list[Drawdown] = []
    peak: SeriesPoint | None = None
    trough: SeriesPoint | None = None
    for point in grid:
        if peak is None or point.nav >= peak.nav:
            if peak is not None and trough is not None and trough.nav < peak.nav:
                episodes.append(Drawdown(peak.at, trough.at, point.at, 1 - trough.nav / peak.nav))
            peak, trough = point, None
        elif trough is None or point.nav < trough.nav:
            trough = point
    if peak is not None and trough is not None and peak.nav > 0:
        episodes.append(Drawdown(peak.at, trough.at, None, 1 - trough.nav / peak.nav))
    episodes = [e for e in episodes if e.depth > 0]
    return tuple(sorted(episodes, key=lambda e: (-e.depth, e.peak_at))[:count])


def rebalance_summary(
    events: Sequence[Row], fees: Sequence[Row], timezone: str, yearly: bool
) -> tuple[RebalanceSummary, ...]:
    """Rebalance events and their trading + slippage fees per month (or year), in order."""
    zone = ZoneInfo(timezone)
    fmt = "%Y" if yearly else "%Y-%m"
    rebalance_times = set()
    buckets: dict[str, list[Row]] = {}
    for row in events:
        if row["kind"] != "rebalance":
            continue
        at = parse_time(str(row["at"]))
        rebalance_times.add(at)
        buckets.setdefault(at.astimezone(zone).strftime(fmt), []).append(row)
    costs: dict[str, float] = {}
    for row in fees:
        at = parse_time(str(row["at"]))
        if row["kind"] in ("trading", "slippage") and at in rebalance_times:
            key = at.astimezone(zone).strftime(fmt)
            costs[key] = costs.get(key, 0.0) + float(row["amount"])
    return tuple(
        RebalanceSummary(
            period=key,
            count=len(rows),
            notional=sum(float(r["notional_traded"]) for r in rows),
            fees=costs.get(key, 0.0),
            mean_leverage_before=sum(abs(float(r["leverage_before"])) for r in rows) / len(rows),
            mean_leverage_after=sum(abs(float(r["leverage_after"])) for r in rows) / len(rows),
        )
        for key, rows in buckets.items()
    )
