"""The SVG charts of one experiment in the HTML report (see charts.py for the drawing).

NAV normalised to 1 at the start with the underlying (on a log axis when the largest value is
more than LOG_RANGE times the smallest, and the title says so), the underwater curve (drawdown
from the running peak), leverage (exposure / NAV) over time, cumulative costs over time
(every fee, funding net: a cost > 0) and fees by kind. Every series is on the model's hourly
grid and is downsampled for drawing; every vehicle keeps its colour of `colour_map`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.reports import metrics
from bot.reports.axes import time_ticks
from bot.reports.charts import (
    FEE_PALETTE,
    LOG_FLOOR,
    UNDERLYING,
    Line,
    Stack,
    bar_chart,
    legend,
    line_chart,
)
from bot.reports.model import FEE_KINDS, ExperimentReport, PortfolioReport, ReportPeriod

LOG_RANGE = 10.0


def experiment_charts(
    e: ExperimentReport, period: ReportPeriod, colours: Mapping[str, str]
) -> list[str]:
    """The experiment's charts as SVG strings, in display order."""
    ticks = [(_hours(at, period), label) for at, label in time_ticks(*_span(period))]

    def series(p: PortfolioReport, values: list[float]) -> Line:
        points = [(_hours(g.at, period), v) for g, v in zip(p.grid, values, strict=True)]
        return Line(p.vehicle, points, colours[p.vehicle])

    nav = [series(p, [g.nav / (p.nav_start or 1.0) for g in p.grid]) for p in e.portfolios]
    priced = max(e.portfolios, key=lambda p: len({g.price for g in p.grid}))
    if priced.price_start:
        s0 = priced.price_start
        points = [(_hours(g.at, period), g.price / s0) for g in priced.grid]
        nav.append(Line("underlying", points, UNDERLYING, dashed=True))
    ys = [y for line in nav for _, y in line.points]
    log = bool(ys) and max(ys) > LOG_RANGE * max(min(ys), 1e-9)
    under = [
        series(p, [-d for d in metrics.drawdown_series([g.nav for g in p.grid])])
        for p in e.portfolios
    ]
    lev = [series(p, [g.leverage for g in p.grid]) for p in e.portfolios]
    costs = [series(p, _cumulative_costs(p)) for p in e.portfolios]
    title = "NAV (1 = start, log scale)" if log else "NAV (1 = start)"
    if log and min(ys) < LOG_FLOOR:
        title = f"NAV (1 = start, log scale; below {LOG_FLOOR:g} drawn at {LOG_FLOOR:g})"
    return [
        line_chart(title, nav, ticks, lambda v: f"{v:.3g}", log_scale=log),
        line_chart("Underwater (drawdown from peak)", under, ticks, _percent),
        line_chart("Leverage (exposure / NAV)", lev, ticks, lambda v: f"{v:.2f}x"),
        line_chart("Cumulative costs incl. net funding (USDT)", costs, ticks, _money),
        bar_chart(
            "Fees by kind (USDT; funding net, < 0 received)",
            [p.vehicle for p in e.portfolios],
            [
                Stack(k, [p.fees.get(k, 0.0) for p in e.portfolios], FEE_PALETTE[i])
                for i, k in enumerate(FEE_KINDS)
            ],
            _money,
        )
        + legend([(k, FEE_PALETTE[i]) for i, k in enumerate(FEE_KINDS)]),
    ]


def _span(period: ReportPeriod) -> tuple[datetime, datetime, str]:
    return period.start, period.end, period.timezone


def _hours(at: datetime, period: ReportPeriod) -> float:
    return (at - period.start).total_seconds() / 3600


def _percent(value: float) -> str:
    return f"{round(value * 100) + 0:.0f} %"


def _money(value: float) -> str:
    return f"{value:,.4g}"


def _cumulative_costs(p: PortfolioReport) -> list[float]:
    # Fees booked at or before each grid time (USDT, funding net: a cost > 0).
    events = sorted(p.fee_events, key=lambda f: f.at)
    out, total, j = [], 0.0, 0
    for g in p.grid:
        while j < len(events) and events[j].at <= g.at:
            total += events[j].amount
            j += 1
        out.append(total)
    return out
