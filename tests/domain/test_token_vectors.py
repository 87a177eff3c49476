"""MECHANICS §11: every published leveraged-token vector, to 0.01 percentage points.

The published examples ignore every cost, so each preset runs with management fee, rebalance
fee and slippage set to zero; everything else (schedule, triggers, bands) is the preset's own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.leveraged_token import TokenState, apply_daily_rebalance, new_token, on_price
from bot.domain.token_presets import token_spec
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NO_COSTS = {"management_fee_pct": 0.0, "rebalance_fee_pct": 0.0, "slippage_pct": 0.0}
PP = 0.01  # tolerance in percentage points
BYBIT_PATH = [40_000.0, 44_444.0, 49_381.0, 54_868.0]


def trigger_move(start_leverage: float, bound: float) -> float:
    """The underlying return r* that takes λ from L0 to the bound U (MECHANICS §0): between
    rebalances λ(r) = L0(1+r)/(1+L0·r), so r* = (U - L0) / (L0·(1 - U)); U is signed."""
    return (bound - start_leverage) / (start_leverage * (1 - bound))


def pct(state: TokenState, start_nav: float = 1.0) -> float:
    return (state.nav / start_nav - 1) * 100


def daily_reset_path(preset: str, side: Side, path: list[float], reset_time: str) -> float:
    """One close per day, then the preset's scheduled reset at its own time, at that close."""
    spec = token_spec(preset, side, NO_COSTS)
    assert spec.daily_time == reset_time
    hours, minutes, _ = (int(x) for x in reset_time.split(":"))
    state = new_token(spec, T0, path[0])
    for day, price in enumerate(path[1:], start=1):
        close_at = T0 + timedelta(days=day, hours=hours, minutes=minutes) - timedelta(minutes=1)
        state, _ = on_price(spec, state, close_at, price)
        state, _ = apply_daily_rebalance(spec, state, close_at + timedelta(minutes=1), price)
    return pct(state)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([10_000.0, 11_000.0, 10_000.0], -5.4545),  # 1.3 · (1 − 3/11) = 0.945454
        ([10_000.0, 11_000.0, 12_100.0], 69.00),  # 1.3 · 1.3
        ([10_000.0, 9_500.0, 9_000.0], -28.42),  # 0.85 · (1 − 3/19) = 0.715789
        ([200.0, 210.0, 220.0], 31.43),  # 1.15 · (1 + 3/21)
        ([200.0, 210.0, 200.0], -1.43),  # 1.15 · (1 − 3/21)
    ],
)
def test_ftx_daily_reset_vectors(path: list[float], expected: float) -> None:
    assert daily_reset_path("ftx", Side.LONG, path, "00:02:00") == pytest.approx(expected, abs=PP)


UP4 = [100.0 * 1.1**i for i in range(5)]
DOWN4 = [100.0 * 0.9**i for i in range(5)]
CHOP = [100.0, 110.0, 99.0, 108.9, 98.01]


@pytest.mark.parametrize(("preset", "reset_time"), [("kucoin", "23:30:00"), ("mexc", "16:00:00")])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (UP4, 185.61),  # 1.3^4 = 2.8561
        (DOWN4, -75.99),  # 0.7^4 = 0.2401
        (CHOP, -17.19),  # (1.3 · 0.7)^2 = 0.8281
    ],
)
def test_kucoin_and_mexc_daily_reset_vectors(
    preset: str, reset_time: str, path: list[float], expected: float
) -> None:
    result = daily_reset_path(preset, Side.LONG, path, reset_time)
    assert result == pytest.approx(expected, abs=PP)


def bybit_days(spec: TokenSpec, steps_per_day: int) -> list[float]:
    """Walk the Bybit path geometrically in `steps_per_day` prices a day; the last is the close."""
    state, at, closes = new_token(spec, T0, BYBIT_PATH[0]), T0, []
    for start, end in zip(BYBIT_PATH, BYBIT_PATH[1:], strict=False):
        for k in range(1, steps_per_day + 1):
            at += timedelta(seconds=86_400 / steps_per_day)
            price = start * (end / start) ** (k / steps_per_day)
            state, _ = on_price(spec, state, at, price, bar_close=k == steps_per_day)
        closes.append(pct(state))
    return closes


def test_bybit_3l_continuous_monitoring() -> None:
    # Hand working: 44,444 → λ = 3·1.1111/1.3333 = 2.5 and 49,381 → 2.17: no trigger; λ hits 2
    # at r* = (2−3)/(3·(1−2)) = 1/3, S = 53,333.33, NAV = 2; then 2·(1 + 3·(54,868/53,333.33 − 1))
    # = 2.172640 → +117.26 %. The 20,000-step path overshoots the trigger by < 0.002 %.
    spec = token_spec("bybit", Side.LONG, NO_COSTS)
    assert spec.monitoring == "continuous"
    days = bybit_days(spec, 20_000)
    expected_last = (2 * (1 + 3 * (54_868 / (40_000 * 4 / 3) - 1)) - 1) * 100
    assert days == pytest.approx([33.33, 70.36, 117.26], abs=PP)
    assert days[-1] == pytest.approx(expected_last, abs=PP)
    assert days[-1] == pytest.approx(117.28, abs=0.03)  # published, rounded by Bybit


def test_bybit_3s_end_of_day_checks() -> None:
    # Each day +11.11 % takes the -3x fund to NAV·(1 − 0.3333) and λ = −5, so it resets at close:
    # 0.66670, 0.44452, 0.29634 → −33.33 %, −55.55 %, −70.37 %.
    spec = token_spec("bybit", Side.SHORT, {**NO_COSTS, "monitoring": "bar_close"})
    assert bybit_days(spec, 24) == pytest.approx([-33.33, -55.55, -70.37], abs=PP)


def test_bybit_3s_continuous_monitoring() -> None:
    # λ hits −4 after +1/15 each time (NAV ×0.8): triggers at 42,666.67, 45,511.11, 48,545.19,
    # 51,781.53. Day 1: 0.8·(1 − 3·(44,444/42,666.67 − 1)) = 0.70003; day 2:
    # 0.8³·(1 − 3·(49,381/48,545.19 − 1)) = 0.48555; day 3: 0.8⁴·(1 − 3·(54,868/51,781.53 − 1)).
    spec = token_spec("bybit", Side.SHORT, NO_COSTS)
    trig = [40_000 * (16 / 15) ** k for k in range(1, 5)]
    expected = [
        (0.8 * (1 - 3 * (44_444 / trig[0] - 1)) - 1) * 100,
        (0.8**3 * (1 - 3 * (49_381 / trig[2] - 1)) - 1) * 100,
        (0.8**4 * (1 - 3 * (54_868 / trig[3] - 1)) - 1) * 100,
    ]
    days = bybit_days(spec, 20_000)
    assert days == pytest.approx(expected, abs=PP)
    assert days == pytest.approx([-30.0, -51.4, -66.4], abs=0.05)  # published to 0.1


def test_bybit_3l_end_of_day_checks_do_not_reproduce_the_long_series() -> None:
    # Without intraday checks the 3L never rebalances before the last close: static 3x, +111.51 %.
    spec = token_spec("bybit", Side.LONG, {**NO_COSTS, "monitoring": "bar_close"})
    assert bybit_days(spec, 24)[-1] == pytest.approx(111.51, abs=PP)


@pytest.mark.parametrize(
    ("l0", "bound", "expected_pct"),
    [(3.0, 4.0, -11.11), (-3.0, -4.0, 6.67), (3.0, 2.0, 33.33), (-3.0, -2.0, -11.11)],
)
def test_trigger_move_formula(l0: float, bound: float, expected_pct: float) -> None:
    assert trigger_move(l0, bound) * 100 == pytest.approx(expected_pct, abs=PP)


@pytest.mark.parametrize(("side", "bound"), [(Side.LONG, 4.0), (Side.SHORT, -4.0)])
def test_ftx_intraday_trigger_fires_at_the_published_move(side: Side, bound: float) -> None:
    # One continuous 30 % move against the token: the 4x trigger rebalances where λ crosses
    # ±4, at S = 10,000·(1 + r*) (r* = −1/9 long, +1/15 short: −11.11 %, +6.67 %), not at the
    # end of the move; then the fund (back at ±3x there) rides on to the end.
    spec = token_spec("ftx", side, NO_COSTS)
    end = 7_000.0 if side is Side.LONG else 13_000.0
    state, records = on_price(spec, new_token(spec, T0, 10_000.0), T0, end)
    crossed = 10_000.0 * (1 + trigger_move(spec.leverage, bound))
    first = records.events[0]
    assert first.leverage_before == pytest.approx(bound, rel=1e-12)
    assert first.leverage_after == pytest.approx(spec.leverage, rel=1e-12)
    # NAV at the crossing: 1 + L·r* = 1 − 1/3 (long) or 1 − 1/5 (short).
    nav_at_crossing = 1 + spec.leverage * (crossed / 10_000 - 1)
    assert first.nav_per_unit == pytest.approx(nav_at_crossing, rel=1e-12)
    # Each rebalance restarts the same geometry, so the k-th crossing is at 10,000·g^k with
    # g = 8/9 (long: 8,888.89, 7,901.23, 7,023.32 > 7,000) or 16/15 (short: 10,666.67,
    # 11,377.78, 12,136.30, 12,945.39 < 13,000).
    count = 3 if side is Side.LONG else 4
    assert len(records.events) == count
    assert state.rebalance_price == pytest.approx(crossed * (crossed / 10_000) ** (count - 1))


@pytest.mark.parametrize("preset", ["kucoin", "mexc"])
def test_move_trigger_fires_at_the_15_percent_crossing(preset: str) -> None:
    # 3x long, one continuous fall 100 → 70: the 15 % adverse trigger rebalances at 85
    # (NAV 1 − 3·0.15 = 0.55), again at 85·0.85 = 72.25 (NAV 0.55²), then rides to 70:
    # 0.3025·(1 + 3·(70/72.25 − 1)).
    spec = token_spec(preset, Side.LONG, NO_COSTS)
    state, records = on_price(spec, new_token(spec, T0, 100.0), T0, 70.0)
    assert [e.nav_per_unit for e in records.events] == pytest.approx([0.55, 0.3025], rel=1e-12)
    assert state.rebalance_price == pytest.approx(72.25, rel=1e-12)
    assert state.nav == pytest.approx(0.3025 * (1 + 3 * (70 / 72.25 - 1)), rel=1e-12)
