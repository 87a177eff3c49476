"""The report model, built purely from ledger rows (plain dicts) for one window.

Window conventions: a report covers (start, end], local midnights of the configured timezone
in UTC. The NAV at the start is the portfolio's last NAV at or before `start` (its capital if it
has none yet); the NAV at the end is its last NAV at or before `end`. Fills, fees and token
events count when start < at <= end, so they explain exactly the change between the two NAVs
(a funding settlement at 00:00 belongs to the day that ends then). No clock, no I/O.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters.sqlite.timefmt import parse_time
from bot.reports import metrics
from bot.reports.decay import TokenDecomposition, decompose
from bot.reports.points import SeriesPoint

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
class OpenPosition:
    """A position open at the end of the window (qty in base units, prices in USDT)."""

    side: str
    qty: float
    entry: float
    stop: float | None
    leverage: float
    liq_price: float | None


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """One portfolio over the window. Returns, drawdown and volatility are fractions; money
    is USDT; `fees` maps every kind to its net amount (> 0 cost); funding is split into
    `funding_paid` (>= 0) and `funding_received` (>= 0)."""

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
    """The portfolios of one experiment, ranked by return (best first, ties by id)."""

    name: str
    symbol: str
    strategy: str
    portfolios: tuple[PortfolioReport, ...]

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
) -> Report:
    """Build the report of `period` from ledger rows.

    `targets` optionally maps a token portfolio id to the target |L| of its (long, short)
    token, e.g. from the preset; without it, |L| (both sides) is the median |leverage_after|
    of the portfolio's rebalance events, else the median |leverage| of its invested NAV rows.
    `notes` are printed under the window line.
    """
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
        # A portfolio that died before the window cannot win it with its 0 % (issue 14): the
        # dead rank after the living, each group by return.
        ranked = sorted(
            reports[name],
            key=lambda p: (
                p.died_at is not None and p.died_at <= period.start,
                -p.total_return,
                p.id,
            ),
        )
        head = ranked[0]
        experiments.append(ExperimentReport(name, head.symbol, head.strategy, tuple(ranked)))
    return Report(period, tuple(experiments), tuple(notes))


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
    points = sorted((_point(r) for r in part["nav"]), key=lambda p: p.at)
    points = [p for p in points if p.at <= period.end]
    anchor = [p for p in points if p.at <= period.start]
    inside = [p for p in points if p.at > period.start]
    capital = float(info["capital"])
    nav_start = anchor[-1].nav if anchor else capital
    nav_end = inside[-1].nav if inside else nav_start
    grid = _grid(points, period, capital)
    fees, paid, received = _fees(part["fees"])
    returns = metrics.log_returns([p.nav for p in grid])
    vehicle = str(info["vehicle"])
    token = None
    if vehicle.startswith("token") and target is not None and len(grid) > 1:
        token = decompose(grid, nav_start, nav_end, fees, target)
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
        total_return=metrics.total_return(nav_start, nav_end),
        max_drawdown=metrics.max_drawdown([nav_start] + [p.nav for p in inside]),
        volatility=metrics.annualised_volatility(returns),
        sharpe=metrics.sharpe_ratio(returns),
        price_start=grid[0].price if grid and grid[0].price > 0 else None,
        price_end=grid[-1].price if grid and grid[-1].price > 0 else None,
        **_counts(part),
        fees=fees,
        funding_paid=paid,
        funding_received=received,
        exposure_end=last.exposure if last else 0.0,
        leverage_end=last.leverage if last else 0.0,
        open_positions=tuple(_open_positions(part["positions"], period.end)),
        grid=tuple(grid),
        token=token,
        refused={str(r["reason"]): int(r["count"]) for r in part["refusals"]},
        died_at=parse_time(str(part["deaths"][0]["at"])) if part["deaths"] else None,
        death_cause=str(part["deaths"][0]["cause"]) if part["deaths"] else None,
    )


def _counts(part: Mapping[str, list[Row]]) -> dict[str, int]:
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


def _point(row: Row) -> SeriesPoint:
    return SeriesPoint(
        at=parse_time(str(row["at"])),
        nav=float(row["nav"]),
        leverage=float(row["leverage"]),
        exposure=float(row["exposure"]),
        price=float(row["price"]),
    )


def _grid(points: Sequence[SeriesPoint], period: ReportPeriod, capital: float) -> list[SeriesPoint]:
    # Before its first NAV row a portfolio is flat at its capital; its price is unknown, so
    # the first recorded price stands in (it does not matter: nothing is held).
    if not points:
        return []
    times = [p.at for p in points]
    first = points[0]
    flat = SeriesPoint(first.at, capital, 0.0, 0.0, first.price)
    grid = []
    for at in metrics.hourly_grid(period.start, period.end):
        i = _index_asof(times, at)
        grid.append(_at(points[i], at) if i >= 0 else _at(flat, at))
    return grid


def _index_asof(times: Sequence[datetime], at: datetime) -> int:
    return bisect.bisect_right(times, at) - 1


def _at(point: SeriesPoint, at: datetime) -> SeriesPoint:
    return SeriesPoint(at, point.nav, point.leverage, point.exposure, point.price)


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


def _open_positions(rows: Sequence[Row], end: datetime) -> list[OpenPosition]:
    out = []
    for row in rows:
        closed = row["closed_at"]
        if parse_time(str(row["opened_at"])) <= end and (
            closed is None or parse_time(str(closed)) > end
        ):
            out.append(
                OpenPosition(
                    side=str(row["side"]),
                    qty=float(row["qty"]),
                    entry=float(row["entry"]),
                    stop=None if row["stop"] is None else float(row["stop"]),
                    leverage=float(row["leverage"]),
                    liq_price=None if row["liq_price"] is None else float(row["liq_price"]),
                )
            )
    return out
