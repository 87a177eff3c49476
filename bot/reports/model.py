"""The report model, built purely from ledger rows (plain dicts) for one window.

Window conventions: a report covers (start, end], local midnights of the configured timezone
in UTC. The NAV at the start is the portfolio's last NAV at or before `start` (its capital if it
has none yet); the NAV at the end is its last NAV at or before `end`. Fills, fees and token
events count when start < at <= end, so they explain exactly the change between the two NAVs
(a funding settlement at 00:00 belongs to the day that ends then). No clock, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters.sqlite.timefmt import parse_time
from bot.reports import metrics
from bot.reports.decay import FeeEvent, TokenDecomposition, decompose
from bot.reports.points import SeriesPoint, hourly_nav_grid, point_from_row
from bot.reports.tearsheet import (
    Drawdown,
    MonthReturn,
    RebalanceSummary,
    monthly_returns,
    rebalance_summary,
    worst_drawdowns,
)
from bot.reports.trades import OpenPosition, Trade, open_positions, trades

FEE_KINDS = (
    "trading",
    "slippage",
    "subscription",
    "redemption",
    "management",
    "funding",
    "liquidation",
)
Row = Mapping[str, Any]
# What "who won" ranks by (docs/REPORTS.md): the simple return or a risk-adjusted ratio.
RANK_MEASURES = ("sharpe", "sortino", "calmar", "return")
DEFAULT_RANK_BY = "sharpe"


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """A report window (start, end] in UTC; `label` is `YYYY-MM-DD` or `first..last`."""

    label: str
    start: datetime
    end: datetime
    timezone: str


def period_for(first: date, last: date, timezone: str) -> ReportPeriod:
    """The window of local days `first`..`last` (inclusive) in `timezone`."""
    if last < first:
        raise ValueError(f"range end {last} is before its start {first}")
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), zone).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(ZoneInfo("UTC"))
    label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
    return ReportPeriod(label, start, end, timezone)


@dataclass(frozen=True, slots=True)
class LedgerRows:
    """The rows a report reads (see `Store.report_rows`), as plain mappings."""

    portfolios: Sequence[Row]
    nav: Sequence[Row] = ()
    fills: Sequence[Row] = ()
    fees: Sequence[Row] = ()
    token_events: Sequence[Row] = ()
    positions: Sequence[Row] = ()
    rebalance_leverage: Sequence[Row] = ()
    refusals: Sequence[Row] = ()
    deaths: Sequence[Row] = ()

    @classmethod
    def from_mapping(cls, rows: Mapping[str, Sequence[Row]]) -> LedgerRows:
        """Build from the dict returned by `Store.report_rows`."""
        return cls(**{name: rows.get(name, ()) for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """One portfolio over the window. Returns, drawdown and volatility are fractions; money
    is USDT; `fees` maps every kind to its net amount (> 0 cost); funding is split into
    `funding_paid` (>= 0) and `funding_received` (>= 0). `annual_return` compounds the
    window's return over 365 days; `underwater` is the longest stretch below a previous peak
    of the hourly grid; the tear-sheet tuples are described in `bot.reports.tearsheet` and
    `bot.reports.trades`."""

    id: str
    experiment: str
    vehicle: str
    strategy: str
    symbol: str
    capital: float
    nav_start: float
    nav_end: float
    total_return: float
    max_drawdown: float
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    annual_return: float | None
    underwater: timedelta
    price_start: float | None
    price_end: float | None
    fills: int
    stops: int
    take_profits: int
    liquidations: int
    rebalances: int
    reverse_splits: int
    fees: Mapping[str, float]
    funding_paid: float
    funding_received: float
    exposure_end: float
    leverage_end: float
    open_positions: tuple[OpenPosition, ...]
    grid: tuple[SeriesPoint, ...]
    token: TokenDecomposition | None = None
    refused: Mapping[str, int] = field(default_factory=dict)  # entries refused, by reason
    died_at: datetime | None = None  # NAV reached 0 or cannot pay for the smallest order
    death_cause: str | None = None
    fee_events: tuple[FeeEvent, ...] = ()
    trades: tuple[Trade, ...] = ()
    monthly: tuple[MonthReturn, ...] = ()
    drawdowns: tuple[Drawdown, ...] = ()
    rebalance_summary: tuple[RebalanceSummary, ...] = ()

    def score(self, measure: str) -> float | None:
        """The value "who won" ranks by: `return` or the `sharpe`, `sortino`, `calmar` ratio."""
        if measure == "return":
            return self.total_return
        return {"sharpe": self.sharpe, "sortino": self.sortino, "calmar": self.calmar}[measure]

    @property
    def kind(self) -> str:
        """The vehicle kind: token, perp, perp_static or spot."""
        return self.vehicle.split(":", 1)[0]

    @property
    def costs(self) -> float:
        """Every fee except funding (USDT, > 0 cost)."""
        return sum(v for k, v in self.fees.items() if k != "funding")

    @property
    def pnl(self) -> float:
        """NAV change over the window (USDT)."""
        return self.nav_end - self.nav_start


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """The portfolios of one experiment, ranked by `rank_by` (best first; see `build_report`)."""

    name: str
    symbol: str
    strategy: str
    portfolios: tuple[PortfolioReport, ...]
    rank_by: str = DEFAULT_RANK_BY

    @property
    def underlying_return(self) -> float | None:
        """The symbol's price return over the window, from the NAV rows' marking price."""
        for p in self.portfolios:
            if p.price_start and p.price_end:
                return p.price_end / p.price_start - 1
        return None


@dataclass(frozen=True, slots=True)
class Report:
    """The whole report: the window, every experiment in name order, and notes on where its
    inputs came from (one line each)."""

    period: ReportPeriod
    experiments: tuple[ExperimentReport, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()

    @property
    def portfolios(self) -> list[PortfolioReport]:
        """Every portfolio, experiment by experiment, in rank order."""
        return [p for e in self.experiments for p in e.portfolios]


def build_report(
    rows: LedgerRows,
    period: ReportPeriod,
    targets: Mapping[str, tuple[float, float]] | None = None,
    notes: Sequence[str] = (),
    rank_by: str = DEFAULT_RANK_BY,
) -> Report:
    """Build the report of `period` from ledger rows.

    `targets` optionally maps a token portfolio id to the target |L| of its (long, short)
    token, e.g. from the preset; without it, |L| (both sides) is the median |leverage_after|
    of the portfolio's rebalance events, else the median |leverage| of its invested NAV rows.
    `notes` are printed under the window line. Each experiment ranks its portfolios by
    `rank_by` (one of RANK_MEASURES), best first: the living before those that died before
    the window, then by the measure (an undefined ratio counts as +inf for a gain, 0 for no
    change, -inf for a loss), then by return, then by id.
    """
    if rank_by not in RANK_MEASURES:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_MEASURES)}, not {rank_by!r}")
    names = [n for n in LedgerRows.__dataclass_fields__ if n != "portfolios"]
    by_pid = {name: _group(getattr(rows, name)) for name in names}
    reports: dict[str, list[PortfolioReport]] = defaultdict(list)
    for info in rows.portfolios:
        pid = str(info["id"])
        target = _target(pid, targets or {}, by_pid["rebalance_leverage"], by_pid["nav"])
        part = {name: by_pid[name].get(pid, []) for name in by_pid}
        reports[str(info["experiment"])].append(_portfolio(info, part, period, target))
    experiments = []
    for name in sorted(reports):
        ranked = sorted(reports[name], key=lambda p: _rank_key(p, period, rank_by))
        head = ranked[0]
        experiments.append(
            ExperimentReport(name, head.symbol, head.strategy, tuple(ranked), rank_by)
        )
    return Report(period, tuple(experiments), tuple(notes))


def _rank_key(p: PortfolioReport, period: ReportPeriod, rank_by: str) -> tuple[Any, ...]:
    # A portfolio that died before the window cannot win it with its 0 % (issue 14). A ratio
    # undefined for want of risk (no volatility, no losing hour, no drawdown) or of length
    # (Calmar under 30 days) ranks as +inf for a gain, 0 for no change, -inf for a loss.
    score = p.score(rank_by)
    if score is None:
        score = math.copysign(math.inf, p.total_return) if p.total_return else 0.0
    dead = p.died_at is not None and p.died_at <= period.start
    return (dead, -score, -p.total_return, p.id)


def _group(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[str(row["portfolio_id"])].append(row)
    return grouped


def _target(
    pid: str,
    targets: Mapping[str, tuple[float, float]],
    rebalances: Mapping[str, list[Row]],
    nav: Mapping[str, list[Row]],
) -> tuple[float, float, str] | None:
    if pid in targets:
        long_l, short_l = targets[pid]
        return abs(long_l), abs(short_l), "preset"
    after = [abs(float(r["leverage_after"])) for r in rebalances.get(pid, [])]
    if after:
        median = statistics.median(after)
        return median, median, "rebalances"
    invested = [abs(float(r["leverage"])) for r in nav.get(pid, []) if r["exposure"]]
    median = statistics.median(invested) if invested else 0.0
    return (median, median, "nav") if invested else None


def _portfolio(
    info: Row,
    part: Mapping[str, list[Row]],
    period: ReportPeriod,
    target: tuple[float, float, str] | None,
) -> PortfolioReport:
    points = sorted((point_from_row(r) for r in part["nav"]), key=lambda p: p.at)
    points = [p for p in points if p.at <= period.end]
    anchor = [p for p in points if p.at <= period.start]
    inside = [p for p in points if p.at > period.start]
    capital = float(info["capital"])
    nav_start = anchor[-1].nav if anchor else capital
    nav_end = inside[-1].nav if inside else nav_start
    grid = hourly_nav_grid(points, period.start, period.end, capital)
    fees, paid, received = _fees(part["fees"])
    vehicle = str(info["vehicle"])
    events = tuple(
        FeeEvent(parse_time(str(r["at"])), str(r["kind"]), float(r["amount"])) for r in part["fees"]
    )
    token = None
    if vehicle.startswith("token") and target is not None and len(grid) > 1:
        token = decompose(grid, events, target)
    last = points[-1] if points else None
    return PortfolioReport(
        id=str(info["id"]),
        experiment=str(info["experiment"]),
        vehicle=vehicle,
        strategy=str(info["strategy"]),
        symbol=str(info["symbol"]),
        capital=capital,
        nav_start=nav_start,
        nav_end=nav_end,
        **_performance(nav_start, nav_end, [nav_start] + [p.nav for p in inside], grid, period),
        price_start=grid[0].price if grid and grid[0].price > 0 else None,
        price_end=grid[-1].price if grid and grid[-1].price > 0 else None,
        **_counts(part),
        fees=fees,
        funding_paid=paid,
        funding_received=received,
        exposure_end=last.exposure if last else 0.0,
        leverage_end=last.leverage if last else 0.0,
        open_positions=tuple(open_positions(part["positions"], period.end)),
        grid=tuple(grid),
        token=token,
        refused={str(r["reason"]): int(r["count"]) for r in part["refusals"]},
        died_at=parse_time(str(part["deaths"][0]["at"])) if part["deaths"] else None,
        death_cause=str(part["deaths"][0]["cause"]) if part["deaths"] else None,
        fee_events=events,
        **_tear_sheet(part, grid, nav_start, period, vehicle),
    )


def _performance(
    nav_start: float,
    nav_end: float,
    navs: Sequence[float],
    grid: Sequence[SeriesPoint],
    period: ReportPeriod,
) -> dict[str, Any]:
    # Drawdown on every NAV row; ratios from the hourly grid's log returns (metrics.py).
    returns = metrics.log_returns([p.nav for p in grid])
    days = (period.end - period.start).total_seconds() / 86400
    # Compounding less than a month over a year says nothing: n/a (and so is Calmar).
    annual = metrics.annualised_return(nav_start, nav_end, days) if days >= 30 else None
    drawdown = metrics.max_drawdown(navs)
    return {
        "total_return": metrics.total_return(nav_start, nav_end),
        "max_drawdown": drawdown,
        "volatility": metrics.annualised_volatility(returns),
        "sharpe": metrics.sharpe_ratio(returns),
        "sortino": metrics.sortino_ratio(returns),
        "calmar": metrics.calmar_ratio(annual, drawdown),
        "annual_return": annual,
        "underwater": metrics.longest_underwater([p.at for p in grid], [p.nav for p in grid]),
    }


def _tear_sheet(
    part: Mapping[str, list[Row]],
    grid: Sequence[SeriesPoint],
    nav_start: float,
    period: ReportPeriod,
    vehicle: str,
) -> dict[str, Any]:
    # Trades for perps; rebalances by month (by year beyond two years) for tokens.
    yearly = period.end - period.start > timedelta(days=731)
    perp = vehicle.startswith("perp")
    return {
        "trades": trades(part["positions"], part["fills"], part["fees"], period.end)
        if perp
        else (),
        "monthly": monthly_returns(grid, nav_start, period.timezone),
        "drawdowns": worst_drawdowns(grid),
        "rebalance_summary": rebalance_summary(
            part["token_events"], part["fees"], period.timezone, yearly
        ),
    }


def _counts(part: Mapping[str, list[Row]]) -> dict[str, Any]:
    reasons = [str(f["reason"]) for f in part["fills"]]
    kinds = [str(e["kind"]) for e in part["token_events"]]
    return {
        "fills": len(reasons),
        "stops": reasons.count("stop"),
        "take_profits": reasons.count("take_profit"),
        "liquidations": reasons.count("liquidation"),
        "rebalances": kinds.count("rebalance"),
        "reverse_splits": kinds.count("reverse_split"),
    }


def _fees(rows: Sequence[Row]) -> tuple[dict[str, float], float, float]:
    totals = dict.fromkeys(FEE_KINDS, 0.0)
    paid = received = 0.0
    for row in rows:
        kind, amount = str(row["kind"]), float(row["amount"])
        totals[kind] = totals.get(kind, 0.0) + amount
        if kind == "funding":
            paid += max(amount, 0.0)
            received += max(-amount, 0.0)
    return totals, paid, received
