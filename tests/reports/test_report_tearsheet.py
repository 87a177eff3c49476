"""Tear-sheet pieces and the risk metrics, on hand-worked series."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from report_ledger import TOKEN

from bot.adapters.sqlite.store import Store
from bot.reports import metrics
from bot.reports.model import LedgerRows, build_report, period_for
from bot.reports.points import SeriesPoint
from bot.reports.tearsheet import (
    MonthReturn,
    monthly_returns,
    rebalance_summary,
    worst_drawdowns,
)
from bot.reports.tearsheet_tables import monthly_grid, year_return

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _grid(navs: list[float], step: timedelta = timedelta(hours=1)) -> list[SeriesPoint]:
    return [SeriesPoint(T0 + i * step, nav, 0.0, 0.0, 100.0) for i, nav in enumerate(navs)]


def test_sortino_uses_the_downside_of_every_period() -> None:
    returns = [0.02, -0.01, 0.03, -0.02]
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)  # the two losses over all four periods
    expected = 0.005 / downside * math.sqrt(8760)
    assert metrics.sortino_ratio(returns) == pytest.approx(expected)
    assert metrics.sortino_ratio([0.01, 0.02]) is None  # no losing period
    assert metrics.sortino_ratio([0.01]) is None


def test_annualised_return_and_calmar_use_365_days() -> None:
    assert metrics.annualised_return(100, 121, 730) == pytest.approx(0.1)  # 1.21 over 2 years
    assert metrics.annualised_return(100, 0, 365) == -1.0
    assert metrics.annualised_return(0, 100, 365) is None
    assert metrics.calmar_ratio(0.1, 0.25) == pytest.approx(0.4)
    assert metrics.calmar_ratio(0.1, 0.0) is None and metrics.calmar_ratio(None, 0.2) is None


def test_longest_underwater() -> None:
    times = [T0 + timedelta(hours=h) for h in range(8)]
    # peak 110 at 1 h, back to 110 at 4 h (3 h), peak 120 at 5 h, under to the end (7 h): 3 h.
    values = [100, 110, 105, 90, 110, 120, 119, 118]
    assert metrics.longest_underwater(times, values) == timedelta(hours=3)
    assert metrics.longest_underwater(times, [100 + h for h in range(8)]) == timedelta(0)
    assert metrics.longest_underwater(times, [100] + [99] * 7) == timedelta(hours=7)


def test_worst_drawdowns_are_separate_episodes_deepest_first() -> None:
    grid = _grid([100, 80, 100, 120, 60, 90, 130, 117])
    deep, first, last = worst_drawdowns(grid)
    assert (deep.depth, deep.peak_at, deep.trough_at, deep.recovered_at) == (
        0.5, T0 + timedelta(hours=3), T0 + timedelta(hours=4), T0 + timedelta(hours=6),
    )  # fmt: skip
    assert (first.depth, first.recovered_at) == (pytest.approx(0.2), T0 + timedelta(hours=2))
    assert (last.depth, last.recovered_at) == (pytest.approx(0.1), None)  # 130 -> 117, open
    assert last.length(T0 + timedelta(hours=7)) == timedelta(hours=1)
    assert worst_drawdowns(grid, count=1) == (deep,)


def test_monthly_returns_chain_month_closes() -> None:
    # Day closes: Jan 31 -> 110, Feb 29 -> 99, Mar 2 (end of window) -> 108.9.
    step = timedelta(days=1)
    navs = [100.0] * 31 + [110.0] * 29 + [99.0] * 2 + [108.9]
    grid = _grid(navs, step)
    # grid[31] is 1 Feb 00:00: it closes January at the NAV held then.
    assert grid[31].at == datetime(2024, 2, 1, tzinfo=UTC)
    months = monthly_returns(grid, 100.0, "UTC")
    assert [m.month for m in months] == ["2024-01", "2024-02", "2024-03"]
    assert [m.value for m in months] == pytest.approx([0.1, -0.1, 0.1])


def test_rebalance_summary_by_month() -> None:
    events = [
        {"kind": "rebalance", "at": "2024-01-05T00:00:00.000Z", "leverage_before": 3.5,
         "leverage_after": 3.0, "notional_traded": 500.0},
        {"kind": "reverse_split", "at": "2024-01-06T00:00:00.000Z", "leverage_before": 3.0,
         "leverage_after": 3.0, "notional_traded": 0.0},
        {"kind": "rebalance", "at": "2024-02-01T00:00:00.000Z", "leverage_before": -2.5,
         "leverage_after": -3.0, "notional_traded": 300.0},
    ]  # fmt: skip
    fees = [
        {"kind": "trading", "at": "2024-01-05T00:00:00.000Z", "amount": 0.5},
        {"kind": "slippage", "at": "2024-01-05T00:00:00.000Z", "amount": 0.2},
        {"kind": "management", "at": "2024-01-05T00:00:00.000Z", "amount": 9.0},  # not a trade
        {"kind": "trading", "at": "2024-01-20T00:00:00.000Z", "amount": 7.0},  # no rebalance then
    ]
    jan, feb = rebalance_summary(events, fees, "UTC", yearly=False)
    assert (jan.period, jan.count, jan.notional, jan.fees) == ("2024-01", 1, 500.0, 0.7)
    assert (feb.mean_leverage_before, feb.mean_leverage_after) == (2.5, 3.0)  # |L|
    [year] = rebalance_summary(events, fees, "UTC", yearly=True)
    assert (year.period, year.count, year.notional) == ("2024", 2, 800.0)


def test_the_fixed_token_has_its_rebalance_and_drawdown(ledger: Store) -> None:

    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    report = build_report(
        LedgerRows.from_mapping(ledger.report_rows(period.start, period.end)), period
    )
    [token] = [p for p in report.portfolios if p.id == TOKEN]
    [summary] = token.rebalance_summary
    assert (summary.count, summary.notional, summary.fees) == (1, 11991.0, 8.0)  # 6 + 2 at 12:00
    worst = token.drawdowns[0]
    # Peak 15990.5 (16:00 to 19:00, the last hour at it), trough 11189.8 at 24:00, not recovered.
    assert worst.depth == pytest.approx(1 - 11189.8 / 15990.5)
    assert (worst.peak_at.hour, worst.recovered_at) == (19, None)


def test_monthly_grid_leaves_out_the_months_after_death(ledger: Store) -> None:
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    rows = LedgerRows.from_mapping(ledger.report_rows(period.start, period.end))
    [token] = [p for p in build_report(rows, period).portfolios if p.id == TOKEN]
    months = (MonthReturn("2023-12", 0.1), MonthReturn("2024-01", -0.5), MonthReturn("2024-02", 0))
    dead = replace(token, monthly=months, died_at=datetime(2024, 1, 15, tzinfo=UTC))
    assert monthly_grid(dead) == (["2023", "2024"], {"2023": {12: 0.1}, "2024": {1: -0.5}})
    assert year_return({1: 0.1, 2: -0.1}) == pytest.approx(1.1 * 0.9 - 1)
