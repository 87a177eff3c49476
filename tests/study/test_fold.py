"""Per-portfolio metrics folded from NAV records, fees and fills, on hand-worked paths."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from bot.domain.records import NavRecord
from bot.reports.metrics import sortino_ratio
from bot.study.fold import PortfolioFold

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 4, tzinfo=UTC)


def nav(day: int, hour: int, value: float) -> NavRecord:
    return NavRecord(datetime(2024, 1, day, hour, tzinfo=UTC), value, value, 0.0, 0.0, 50.0)


def test_path_gives_drawdown_time_under_water_and_daily_ratios() -> None:
    # Capital 100; NAV 110 at 01-01 12:00, 95 then 99 at 01-02 00:00 (same time: the ledger
    # keeps the last, 99), 121 at 01-03 00:00, unchanged to the end (01-04 00:00).
    fold = PortfolioFold(START, END, 100.0)
    for record in (nav(1, 12, 110), nav(2, 0, 95), nav(2, 0, 99), nav(3, 0, 121)):
        fold.nav(record)
    out = fold.result()
    assert out["final_nav"] == 121
    assert out["total_return"] == pytest.approx(0.21)
    assert out["log_return"] == pytest.approx(math.log(1.21))
    assert out["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99 (not 95: replaced)
    assert out["time_under_water"] == pytest.approx(1 / 3)  # 24 h of 72 h below 110
    # Daily NAVs at midnight 01-01..01-04: 100, 99, 121, 121.
    r = [math.log(0.99), math.log(121 / 99), 0.0]
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert out["sharpe"] == pytest.approx(mean / std * math.sqrt(365))
    downside = math.sqrt(math.log(0.99) ** 2 / 3)
    assert out["sortino"] == pytest.approx(mean / downside * math.sqrt(365))


def test_fees_fills_events_and_death_are_counted() -> None:
    fold = PortfolioFold(START, END, 100.0)
    at = datetime(2024, 1, 2, tzinfo=UTC)
    fold.fee(at, "trading", 0.5)
    fold.fee(at, "funding", 0.25)
    fold.fee(at, "funding", -0.1)  # received
    for reason in ("entry", "stop", "entry", "liquidation", "take_profit"):
        fold.fill(reason)
    fold.token_event("rebalance")
    fold.token_event("blocked")
    fold.death(at)
    fold.nav(NavRecord(at, 0.0, 0.0, 0.0, 0.0, 50.0))
    out = fold.result()
    assert out["fee_trading"] == 0.5
    assert out["funding"] == pytest.approx(0.15)
    assert (out["fills"], out["stops"], out["liquidations"], out["take_profits"]) == (5, 1, 1, 1)
    assert out["rebalances"] == 1
    assert out["died_at"] == "2024-01-02T00:00:00+00:00"
    assert out["log_return"] is None  # NAV 0: no log return
    assert out["max_drawdown"] == 1.0


def test_untouched_portfolio_keeps_its_capital() -> None:
    out = PortfolioFold(START, END, 100.0).result()
    assert (out["final_nav"], out["max_drawdown"], out["time_under_water"]) == (100.0, 0.0, 0.0)
    assert out["sharpe"] is None  # zero deviation


def test_sortino_needs_a_loss() -> None:
    assert sortino_ratio([0.01, 0.02], 365) is None
    assert sortino_ratio([-0.02, 0.04], 365) == pytest.approx(
        0.01 / math.sqrt(0.0002) * math.sqrt(365)
    )
