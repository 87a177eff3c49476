"""The report model from the fixed ledger (tests/reports/report_ledger.py): hand-worked numbers."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from report_ledger import ETH_SPOT, PERP, SPOT, STATIC, TOKEN

from bot.adapters.sqlite.store import Store
from bot.reports import metrics
from bot.reports.model import LedgerRows, PortfolioReport, Report, build_report, period_for

SQRT_HOURS = math.sqrt(365 * 24)


def _report(
    store: Store, targets: dict[str, tuple[float, float]] | None = None, rank_by: str = "sharpe"
) -> Report:
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    rows = LedgerRows.from_mapping(store.report_rows(period.start, period.end))
    return build_report(rows, period, targets, rank_by=rank_by)


def _portfolio(report: Report, pid: str) -> PortfolioReport:
    [found] = [p for p in report.portfolios if p.id == pid]
    return found


# The hourly NAV grids of the fixed ledger (hours 0..24), from report_ledger.py.
TOKEN_NAV = {0: 10000, 8: 9997, 12: 15989, 16: 15990.5, 20: 13588.15, 24: 11189.8}
SPOT_NAV = {0: 10000, 12: 12000, 20: 11400, 24: 10800}
PERP_NAV = {0: 10000, 1: 9998.5, 8: 9998.7, 12: 9596.9, 20: 9596.03, 24: 9656.03}


def _hand_sharpe(values_at: dict[int, float]) -> float:
    returns = metrics.log_returns(_hourly(values_at))
    return statistics.mean(returns) / statistics.stdev(returns) * SQRT_HOURS


def _hourly(values_at: dict[int, float]) -> list[float]:
    """25 hourly grid values (hours 0..24) from the values at the hours where they change."""
    out, current = [], values_at[0]
    for hour in range(25):
        current = values_at.get(hour, current)
        out.append(current)
    return out


def test_period_is_local_midnight_to_midnight_in_utc() -> None:
    period = period_for(date(2024, 7, 1), date(2024, 7, 1), "Europe/Berlin")
    assert period.start == datetime(2024, 6, 30, 22, tzinfo=UTC)
    assert period.end == datetime(2024, 7, 1, 22, tzinfo=UTC)
    assert period.label == "2024-07-01"
    assert period_for(date(2024, 1, 1), date(2024, 1, 7), "UTC").label == "2024-01-01..2024-01-07"
    with pytest.raises(ValueError, match="before its start"):
        period_for(date(2024, 1, 2), date(2024, 1, 1), "UTC")


def test_experiments_are_ranked_by_return_on_request(ledger: Store) -> None:
    report = _report(ledger, rank_by="return")
    assert [e.name for e in report.experiments] == ["btc-hold", "eth-trend"]
    # token +11.898 % > spot +8 % > perp -3.4397 %; eth: flat spot 0 % > liquidated static -90.21 %
    assert [p.id for p in report.experiments[0].portfolios] == [TOKEN, SPOT, PERP]
    assert [p.id for p in report.experiments[1].portfolios] == [ETH_SPOT, STATIC]
    assert report.experiments[0].underlying_return == pytest.approx(0.08)  # 100 -> 108


def test_experiments_are_ranked_by_sharpe_by_default(ledger: Store) -> None:
    report = _report(ledger)
    sharpe = {pid: _hand_sharpe(nav) for pid, nav in ((TOKEN, TOKEN_NAV), (SPOT, SPOT_NAV))}
    sharpe[PERP] = _hand_sharpe(PERP_NAV)
    assert sharpe[SPOT] > sharpe[TOKEN] > 0 > sharpe[PERP]  # hand-computed from the grids
    assert report.experiments[0].rank_by == "sharpe"
    assert [p.id for p in report.experiments[0].portfolios] == [SPOT, TOKEN, PERP]
    for p in report.experiments[0].portfolios:
        assert p.sharpe == pytest.approx(sharpe[p.id])
    # The flat spot has no Sharpe (no volatility) and no change: it counts as 0, above the
    # liquidated static perp's -sqrt(365).
    assert [p.id for p in report.experiments[1].portfolios] == [ETH_SPOT, STATIC]


def test_unknown_rank_measure_is_refused(ledger: Store) -> None:
    with pytest.raises(ValueError, match="rank_by must be one of sharpe, sortino, calmar, return"):
        _report(ledger, rank_by="alpha")


def test_sortino_calmar_and_time_under_water(ledger: Store) -> None:
    spot = _portfolio(_report(ledger), SPOT)
    returns = metrics.log_returns(_hourly(SPOT_NAV))
    downside = math.sqrt((math.log(0.95) ** 2 + math.log(108 / 114) ** 2) / 24)
    assert spot.sortino == pytest.approx(statistics.mean(returns) / downside * SQRT_HOURS)
    # One day: too short to annualise, so no Calmar either (a 30-day window: test_metrics).
    assert (spot.annual_return, spot.calmar) == (None, None)
    assert spot.underwater == timedelta(hours=5)  # last at its peak 19:00, below it to the end
    # The token: at 10000 until 07:00, under at 08:00, back above at 12:00 (5 h); its peak at
    # 19:00 (15990.5 since 16:00), below it from 20:00 to the end (5 h).
    assert _portfolio(_report(ledger), TOKEN).underwater == timedelta(hours=5)


def test_token_portfolio_metrics(ledger: Store) -> None:
    token = _portfolio(_report(ledger), TOKEN)
    # NAV 10000 at 00:00 (the Dec 31 subscription and the Jan 2 01:00 row do not count).
    assert token.nav_start == 10000.0
    assert token.nav_end == pytest.approx(11189.8)
    assert token.total_return == pytest.approx(0.11898)  # 11189.8 / 10000 - 1
    assert token.max_drawdown == pytest.approx(1 - 11189.8 / 15990.5)  # peak 16:00, low 24:00
    assert (token.fills, token.stops, token.liquidations) == (1, 0, 0)  # the 12:00 rebalance fill
    assert (token.rebalances, token.reverse_splits) == (1, 1)
    assert dict(token.fees) == pytest.approx(
        {"trading": 6.0, "slippage": 2.0, "subscription": 0.0, "redemption": 0.0,
         "management": 4.0, "funding": 1.5, "liquidation": 0.0}
    )  # fmt: skip
    assert (token.funding_paid, token.funding_received) == (3.0, 1.5)
    assert token.leverage_end == pytest.approx(399.725 * 108 / 11189.8)


def test_volatility_and_sharpe_use_hourly_log_returns(ledger: Store) -> None:
    spot = _portfolio(_report(ledger), SPOT)
    # Hourly NAV grid 10000 (h0-11), 12000 (h12-19), 11400 (h20-23), 10800 (h24): 24 returns.
    returns = metrics.log_returns(_hourly({0: 10000, 12: 12000, 20: 11400, 24: 10800}))
    assert len(returns) == 24
    std = statistics.stdev(returns)
    assert spot.volatility == pytest.approx(std * SQRT_HOURS)
    assert spot.sharpe == pytest.approx(math.log(1.08) / 24 / std * SQRT_HOURS)


def test_single_jump_sharpe_is_minus_sqrt_365(ledger: Store) -> None:
    static = _portfolio(_report(ledger), STATIC)
    # One non-zero return x out of 24: mean x/24, std |x|/sqrt(24) -> Sharpe = -sqrt(8760/24).
    assert static.sharpe == pytest.approx(-math.sqrt(365))
    assert static.volatility == pytest.approx(
        abs(math.log(97.9 / 1000)) / math.sqrt(24) * SQRT_HOURS
    )
    assert static.liquidations == 1
    assert static.max_drawdown == pytest.approx(0.9021)


def test_flat_portfolio_has_no_sharpe(ledger: Store) -> None:
    flat = _portfolio(_report(ledger), ETH_SPOT)
    assert (flat.total_return, flat.volatility, flat.sharpe) == (0.0, 0.0, None)


def test_perp_stops_funding_and_open_position(ledger: Store) -> None:
    perp = _portfolio(_report(ledger), PERP)
    assert perp.nav_end == pytest.approx(9656.03)
    assert perp.max_drawdown == pytest.approx(1 - 9596.03 / 10000)  # low at 20:00 after fees
    assert (perp.fills, perp.stops) == (3, 1)
    assert perp.fees["trading"] == pytest.approx(1.0 + 1.2 + 0.57)
    assert perp.fees["slippage"] == pytest.approx(0.5 + 0.6 + 0.3)
    assert (perp.funding_paid, perp.funding_received) == (0.0, 0.2)
    [position] = perp.open_positions  # p1 closed at 12:00; p2 still open
    assert (position.side, position.qty, position.entry, position.stop) == ("short", 10, 114, 134)


def test_token_log_attribution(ledger: Store) -> None:
    token = _portfolio(_report(ledger), TOKEN).token
    assert token is not None
    # L = median leverage_after of rebalances = 3; benchmark 3 x ln(108 / 100).
    assert (token.target_leverage, token.leverage_source) == (3.0, "rebalances")
    assert token.token_log == pytest.approx(math.log(11189.8 / 10000))
    assert token.benchmark_log == pytest.approx(3 * math.log(1.08))
    assert token.gap == pytest.approx(math.log(1.118980) - 3 * math.log(1.08))
    # Each hour's costs against that hour's NAV gross of them (closing NAV + fees).
    assert token.rebalancing == pytest.approx(math.log(15989 / 15997))  # 12:00, 6 + 2
    assert token.management == pytest.approx(math.log(13588.15 / 13592.15))  # 20:00, 4
    funding = math.log(9997 / 10000) + math.log(15990.5 / 15989)  # 08:00 paid 3, 16:00 got 1.5
    assert token.funding == pytest.approx(funding)
    assert token.subscription_redemption == 0.0
    parts = token.rebalancing + token.management + funding
    assert token.decay == pytest.approx(token.gap - parts)
    assert token.decay == pytest.approx(-0.117465, abs=1e-6)
    assert token.until is None


def test_analytic_decay_estimate_from_realised_variance(ledger: Store) -> None:
    token = _portfolio(_report(ledger), TOKEN).token
    assert token is not None
    # Hourly price moves while held: 100->120 (h12), 120->114 (h20), 114->108 (h24).
    rv = math.log(1.2) ** 2 + math.log(0.95) ** 2 + math.log(108 / 114) ** 2
    assert token.realised_variance == pytest.approx(rv)
    assert token.decay_estimate == pytest.approx(-(9 - 3) / 2 * rv)  # -(L^2 - L)/2 x RV


def test_target_leverage_lookup_wins(ledger: Store) -> None:
    token = _portfolio(_report(ledger, {TOKEN: (2.0, 1.0)}), TOKEN).token
    assert token is not None
    assert (token.target_leverage, token.leverage_source) == (2.0, "preset")
    assert token.benchmark_log == pytest.approx(2 * math.log(1.08))


def test_metric_helpers() -> None:
    assert metrics.max_drawdown([100, 120, 90, 130, 65]) == pytest.approx(0.5)
    assert metrics.max_drawdown([]) == 0.0
    assert metrics.drawdown_series([100, 50, 100]) == [0.0, 0.5, 0.0]
    assert metrics.annualised_volatility([0.01]) is None
    assert metrics.sharpe_ratio([0.01, 0.01]) is None  # zero volatility
    grid = metrics.hourly_grid(
        datetime(2024, 1, 1, 0, 30, tzinfo=UTC), datetime(2024, 1, 1, 2, tzinfo=UTC)
    )
    assert [t.strftime("%H:%M") for t in grid] == ["00:30", "01:00", "02:00"]


def test_portfolio_started_during_the_day_starts_at_its_capital() -> None:
    # Pure rows, no database: capital 1000, first NAV 990 at 06:00 (after a subscription fee).
    def nav_row(at: str, nav: float) -> dict[str, object]:
        return {"portfolio_id": "x/token:ftx", "at": at, "nav": nav, "cash": 0.0,
                "exposure": 3 * nav, "leverage": 3.0, "price": 100.0}  # fmt: skip

    rows = LedgerRows(
        portfolios=[
            {
                "id": "x/token:ftx",
                "experiment": "x",
                "vehicle": "token:ftx",
                "strategy": "hold",
                "symbol": "BTC",
                "capital": 1000.0,
            }
        ],  # fmt: skip
        nav=[
            nav_row("2024-01-01T06:00:00.000Z", 990.0),
            nav_row("2024-01-02T00:00:00.000Z", 990.0),
        ],
        fees=[
            {
                "portfolio_id": "x/token:ftx",
                "at": "2024-01-01T06:00:00.000Z",
                "kind": "subscription",
                "amount": 10.0,
            }
        ],  # fmt: skip
    )
    [p] = build_report(rows, period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")).portfolios
    assert (p.nav_start, p.nav_end) == (1000.0, 990.0)
    assert p.total_return == pytest.approx(-0.01)
    assert [g.nav for g in p.grid[:7]] == [1000.0] * 6 + [990.0]  # flat at capital until 06:00
    assert p.token is not None
    # Held from 06:00 at a constant price: no benchmark move, the gap is the subscription fee
    # (the 06:00 hour: closing NAV 990, gross 1000).
    assert p.token.subscription_redemption == pytest.approx(math.log(0.99))
    assert p.token.decay == pytest.approx(0.0)
    assert p.token.leverage_source == "nav"
