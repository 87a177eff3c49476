"""Hand-worked scenarios of the leveraged-token fund: fees, funding, splits, windows, gaps;
and of a token portfolio's routes (subscription or spot market) and daily caps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.leveraged_token import (
    apply_daily_rebalance,
    new_token,
    on_price,
    redeem,
    subscribe,
)
from bot.domain.price_path import PricePoint
from bot.domain.token_presets import token_spec
from bot.domain.token_schedule import (
    DAILY_REBALANCE,
    MANAGEMENT_FEE,
    RELEASE,
    apply_funding,
    apply_management_fee,
    apply_timed_event,
    due_events,
)
from bot.domain.values import FeeKind, FillReason, Refusal, Side, TokenEventKind
from bot.portfolios.tokens import TokenRunner
from bot.strategy import Direction, Signal

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
NO_COSTS = {"management_fee_pct": 0.0, "rebalance_fee_pct": 0.0, "slippage_pct": 0.0}


def test_long_token_pays_positive_funding() -> None:
    # 3x at S = 100, NAV 1: qty = 0.03 per unit. FR = +0.1 %, mark 100: paid = 0.03·100·0.001
    # = 0.003 per unit, so NAV 0.997; a holder of 1,000 units books a 3.00 USDT cost.
    spec = token_spec("ftx", Side.LONG, NO_COSTS)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 1_001.0)
    assert state.units == pytest.approx(1_000.0)
    after, records = apply_funding(spec, state, T0 + timedelta(hours=1), 0.001, 100.0)
    assert after.nav == pytest.approx(0.997, abs=1e-12)
    assert [(f.kind, f.amount) for f in records.fees] == [(FeeKind.FUNDING, pytest.approx(3.0))]
    assert records.steps[0].funding == pytest.approx(-0.003)


def test_short_token_receives_positive_funding() -> None:
    # −3x: qty = −0.03; paid = −0.03·100·0.001 = −0.003, so NAV rises to 1.003 (an income).
    spec = token_spec("ftx", Side.SHORT, NO_COSTS)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 1_001.0)
    after, records = apply_funding(spec, state, T0, 0.001, 100.0)
    assert after.nav == pytest.approx(1.003, abs=1e-12)
    assert records.fees[0].amount == pytest.approx(-3.0)


def test_gate_charges_no_separate_funding() -> None:
    spec = token_spec("gate", Side.LONG)
    state = new_token(spec, T0, 100.0)
    after, records = apply_funding(spec, state, T0, 0.01, 100.0)
    assert after.nav == 1.0
    assert records.fees == ()


def test_management_fee_is_paid_only_by_holders_at_the_fee_time() -> None:
    # FTX: 0.03 %/day at 00:00 UTC (time is an assumption). Holder A redeems at 23:59 and pays
    # nothing; holder B (its own fund) holds through 00:00 and pays 1,000 units · 1.0 · 0.0003.
    spec = token_spec("ftx", Side.LONG, {"rebalance_fee_pct": 0.0, "slippage_pct": 0.0})
    start = new_token(spec, T0, 100.0)
    held, _ = subscribe(spec, start, T0, 1_001.0)
    left, _ = redeem(spec, held, T0 + timedelta(hours=11, minutes=59), held.units)
    midnight = datetime(2024, 1, 2, tzinfo=UTC)
    events = due_events(spec, left, T0, midnight + timedelta(minutes=5))
    assert [(e.at, e.kind) for e in events] == [
        (midnight, MANAGEMENT_FEE),
        (midnight + timedelta(minutes=2), DAILY_REBALANCE),
    ]
    a_after, a_records = apply_timed_event(spec, left, events[0], 100.0)
    b_after, b_records = apply_timed_event(spec, held, events[0], 100.0)
    assert a_records.fees == ()
    assert a_after.nav == pytest.approx(0.9997)  # the fund still takes it from NAV per unit
    assert [(f.kind, f.amount) for f in b_records.fees] == [
        (FeeKind.MANAGEMENT, pytest.approx(0.3))
    ]
    assert b_after.value == pytest.approx(999.7)


def test_subscription_and_redemption_fee_amounts() -> None:
    # Binance 0.1 %: 1,001 USDT buys 1,001 / (1.0 · 1.001) = 1,000 units, fee 1.00. S 100 → 110
    # at λ 2.25 gives NAV 1 + 2.25 · 0.1 = 1.225 (λ 2.02, inside the band); redeeming 1,000
    # units pays 1,225 · 0.999 = 1,223.775, fee 1.225.
    spec = token_spec("binance_blvt", Side.LONG, NO_COSTS)
    state, sub = subscribe(spec, new_token(spec, T0, 100.0), T0, 1_001.0)
    fill = sub.fills[0]
    assert (fill.reason, fill.side, fill.price) == (FillReason.SUBSCRIBE, "buy", 1.0)
    assert fill.qty == pytest.approx(1_000.0)
    assert fill.fee == pytest.approx(1.0)
    assert (sub.fees[0].kind, sub.fees[0].fill_index) == (FeeKind.SUBSCRIPTION, 0)
    state, _ = on_price(spec, state, T0 + timedelta(hours=1), 110.0)
    assert state.nav == pytest.approx(1.225)
    state, red = redeem(spec, state, T0 + timedelta(hours=2), state.units)
    fill = red.fills[0]
    assert (fill.reason, fill.side) == (FillReason.REDEEM, "sell")
    assert fill.qty == pytest.approx(1_000.0)
    assert fill.qty * fill.price - fill.fee == pytest.approx(1_223.775)
    assert (red.fees[0].kind, red.fees[0].amount) == (FeeKind.REDEMPTION, pytest.approx(1.225))
    assert state.units == 0.0


def test_redemption_during_a_rebalance_is_deferred_not_lost() -> None:
    # Bybit 3L, rebalancing blocks requests for 5 minutes (assumption). A gap S 100 → 75 takes
    # λ to 3·0.75/0.25 = 9 >= 4: rebalance at 12:01 at 75, window until 12:06. A redemption at
    # 12:03 is recorded as BLOCKED and executed at 12:06 at that time's NAV.
    spec = token_spec("bybit", Side.LONG, NO_COSTS)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 1_000.5)
    state, rebalanced = on_price(spec, state, T0 + timedelta(minutes=1), 75.0, gap=True)
    assert [e.kind for e in rebalanced.events] == [TokenEventKind.REBALANCE]
    asked = T0 + timedelta(minutes=3)
    state, blocked = redeem(spec, state, asked, 400.0)
    assert blocked.fills == ()
    assert [(e.kind, e.notional_traded) for e in blocked.events] == [(TokenEventKind.BLOCKED, 400)]
    assert state.units == pytest.approx(1_000.0)
    assert len(state.pending) == 1
    with pytest.raises(ValueError, match="cannot redeem"):
        redeem(spec, state, asked, 700.0)  # 400 of the 1,000 units are already queued
    events = due_events(spec, state, asked, asked + timedelta(hours=1))
    assert [(e.at, e.kind) for e in events] == [(T0 + timedelta(minutes=6), RELEASE)]
    state, released = apply_timed_event(spec, state, events[0], 75.0)
    assert [(f.reason, f.qty, f.price) for f in released.fills] == [
        (FillReason.REDEEM, 400.0, pytest.approx(0.25))
    ]
    assert state.units == pytest.approx(600.0)
    assert state.pending == ()


def test_subscription_during_kucoin_window_executes_after_it() -> None:
    # KuCoin resets at 23:30 and blocks until 23:45; cash asked at 23:40 buys at the 23:45 NAV.
    spec = token_spec("kucoin", Side.LONG, NO_COSTS)
    state = new_token(spec, T0, 100.0)
    reset_at = datetime(2024, 1, 1, 23, 30, tzinfo=UTC)
    state, _ = apply_daily_rebalance(spec, state, reset_at, 100.0)
    state, blocked = subscribe(spec, state, reset_at + timedelta(minutes=10), 1_001.0)
    assert blocked.events[0].kind == TokenEventKind.BLOCKED
    assert state.units == 0.0
    state, records = on_price(spec, state, reset_at + timedelta(minutes=15), 100.0)
    assert [f.reason for f in records.fills] == [FillReason.SUBSCRIBE]
    assert state.units == pytest.approx(1_000.0)


def test_reverse_split_preserves_the_holders_value() -> None:
    # MEXC merges at NAV < 0.1, ratio 10. A 3x long at NAV 0.12 (S 100) drops to S 99.5:
    # NAV 0.12 + 0.0036·(−0.5) = 0.1182 — no split; at S 95: 0.12 − 0.018 = 0.102 — no; at 94:
    # 0.12 − 0.0216 = 0.0984 < 0.1 → NAV 0.984, units 500 → 50, value 49.2 both sides.
    spec = token_spec("mexc", Side.LONG, NO_COSTS)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0, nav=0.12), T0, 60.0)
    assert state.units == pytest.approx(500.0)
    state, records = on_price(spec, state, T0 + timedelta(hours=1), 94.0)
    assert [e.kind for e in records.events] == [TokenEventKind.REVERSE_SPLIT]
    assert state.nav == pytest.approx(0.984)
    assert state.units == pytest.approx(50.0)
    assert state.value == pytest.approx(49.2)
    assert state.leverage == pytest.approx(0.0036 * 10 * 94 / 0.984)  # unchanged by the split
    assert state.split_factor == 10.0


def test_gap_beyond_one_over_leverage_wipes_out_at_zero() -> None:
    # ideal_daily 3x has no intraday trigger: S 100 → 60 (−40 % < −1/3) takes NAV to
    # 1 + 0.03·(−40) = −0.2, which ends at exactly 0, never negative, and stays there.
    spec = token_spec("ideal_daily", Side.LONG)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 100.0)
    state, records = on_price(spec, state, T0 + timedelta(hours=1), 60.0)
    assert (state.nav, state.wiped_out, state.qty) == (0.0, True, 0.0)
    assert records.steps[0].token_return == -1.0
    state, _ = on_price(spec, state, T0 + timedelta(hours=2), 200.0)
    assert state.nav == 0.0
    state, red = redeem(spec, state, T0 + timedelta(hours=3), state.units)
    assert red.fills[0].qty * red.fills[0].price == 0.0


def test_rebalance_reaches_target_after_paying_its_own_costs() -> None:
    # NAV 1, S 100, λ 3 → S 110: NAV 1.3, exposure 3.3. With c = 0.1 % the fund solves
    # x = 3·(1.3 + 0.001·3.3)/(1 + 0.003) = 3.898205; traded 0.598205, cost 0.000598205,
    # NAV 1.299402, and x / NAV = 3 exactly.
    costs = {"rebalance_fee_pct": 0.0008, "slippage_pct": 0.0002}
    spec = token_spec("ideal_continuous", Side.LONG, costs)
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 1_000.0)
    state, records = on_price(spec, state, T0 + timedelta(hours=1), 110.0)
    event = records.events[0]
    assert event.notional_traded == pytest.approx(0.598205, abs=1e-6)
    assert state.nav == pytest.approx(1.3 - 0.598205 * 0.001, abs=1e-8)
    assert state.leverage == pytest.approx(3.0, abs=1e-12)
    fees = {f.kind: f.amount for f in records.fees}
    assert fees[FeeKind.TRADING] == pytest.approx(1_000 * 0.598205 * 0.0008, abs=1e-5)
    assert fees[FeeKind.SLIPPAGE] == pytest.approx(1_000 * 0.598205 * 0.0002, abs=1e-5)
    step = records.steps[0]
    assert step.market == pytest.approx(0.3)
    assert step.rebalance_cost == pytest.approx(-0.000598205, abs=1e-9)


def test_kucoin_trigger_fires_only_on_the_losing_side() -> None:
    spec = token_spec("kucoin", Side.LONG, NO_COSTS)
    up, up_records = on_price(spec, new_token(spec, T0, 100.0), T0, 116.0)
    down, down_records = on_price(spec, new_token(spec, T0, 100.0), T0, 85.0)
    assert up_records.events == ()
    assert [e.kind for e in down_records.events] == [TokenEventKind.REBALANCE]
    short = token_spec("kucoin", Side.SHORT, NO_COSTS)
    _, short_up = on_price(short, new_token(short, T0, 100.0), T0, 115.5)
    assert [e.kind for e in short_up.events] == [TokenEventKind.REBALANCE]


def test_gate_daily_check_rebalances_only_when_a_condition_holds() -> None:
    # 16:00 UTC check: |move| 0.5 % and λ 3·1.005/1.015 = 2.97 → nothing; |move| 2 % → rebalance.
    spec = token_spec("gate", Side.LONG)
    check_at = datetime(2024, 1, 1, 16, tzinfo=UTC)
    _, quiet = apply_daily_rebalance(spec, new_token(spec, T0, 100.0), check_at, 100.5)
    _, moved = apply_daily_rebalance(spec, new_token(spec, T0, 100.0), check_at, 102.0)
    assert quiet.events == ()
    assert [e.kind for e in moved.events] == [TokenEventKind.REBALANCE]


def test_gate_intraday_move_trigger_fires_both_ways() -> None:
    # +20.5 % on a 3x long lowers λ to 3·1.205/1.615 = 2.24, yet Gate's ±20 % rule still rebalances.
    spec = token_spec("gate", Side.LONG)
    _, records = on_price(spec, new_token(spec, T0, 100.0), T0, 120.5)
    assert [e.kind for e in records.events] == [TokenEventKind.REBALANCE]


def test_bar_close_monitoring_ignores_intrabar_prices() -> None:
    spec = token_spec("bybit", Side.LONG, {**NO_COSTS, "monitoring": "bar_close"})
    state, intrabar = on_price(spec, new_token(spec, T0, 100.0), T0, 80.0, bar_close=False)
    assert intrabar.events == ()
    _, at_close = on_price(spec, state, T0, 80.0, bar_close=True)
    assert [e.kind for e in at_close.events] == [TokenEventKind.REBALANCE]


def test_management_fee_applies_per_day_only_to_nav() -> None:
    spec = token_spec("kucoin", Side.LONG)
    state = new_token(spec, T0, 100.0)
    after, records = apply_management_fee(spec, state, T0)
    assert after.nav == pytest.approx(1 - 0.0005)
    assert after.qty == state.qty
    assert records.steps[0].management_fee == pytest.approx(-0.0005)


def test_time_must_not_go_backwards_and_prices_must_be_positive() -> None:
    spec = token_spec("ftx", Side.LONG)
    state = new_token(spec, T0, 100.0)
    with pytest.raises(ValueError, match="backwards"):
        on_price(spec, state, T0 - timedelta(seconds=1), 100.0)
    with pytest.raises(ValueError, match="price"):
        on_price(spec, state, T0, 0.0)
    with pytest.raises(ValueError, match="UTC"):
        new_token(spec, datetime(2024, 1, 1), 100.0)


def test_state_and_spec_round_trip_through_the_state_codec() -> None:
    # Crash-only resume: a fund with a deferred request must come back identical.
    from bot.runtime.state_codec import dumps, loads

    spec = token_spec("bybit", Side.SHORT, {"monitoring": "bar_close"})
    state, _ = subscribe(spec, new_token(spec, T0, 100.0), T0, 500.0)
    state, _ = on_price(spec, state, T0 + timedelta(minutes=1), 130.0)
    state, _ = redeem(spec, state, T0 + timedelta(minutes=2), 100.0)
    assert state.pending and state.busy_until is not None
    assert loads(dumps(state)) == state
    assert loads(dumps(spec)) == spec


def test_due_events_span_days_in_time_order_fee_before_reset() -> None:
    # MEXC charges its fee and resets at 16:00 UTC: the fee comes first at the same instant.
    spec = token_spec("mexc", Side.LONG)
    start = datetime(2024, 1, 1, 16, tzinfo=UTC)
    events = due_events(spec, None, start, start + timedelta(days=2))
    assert [(e.at.day, e.kind) for e in events] == [
        (2, MANAGEMENT_FEE),
        (2, DAILY_REBALANCE),
        (3, MANAGEMENT_FEE),
        (3, DAILY_REBALANCE),
    ]


def test_without_costs_a_rebalance_uses_the_published_size_formula() -> None:
    # DP = L·NAV/S: after S 100 → 90 a 3x long has NAV 0.7 and goes back to 3·0.7/90 per unit;
    # the trade is (DP − CP) = 0.023333 − 0.03 = −0.006667 base units per unit (a sale).
    spec = token_spec("ftx", Side.LONG, NO_COSTS)
    state = new_token(spec, T0, 100.0)
    after, records = apply_daily_rebalance(spec, state, T0 + timedelta(hours=12, minutes=2), 90.0)
    assert after.qty == pytest.approx(3 * 0.7 / 90)
    assert records.events[0].notional_traded == pytest.approx((0.03 - 3 * 0.7 / 90) * 90)


# -- the holder's routes and daily caps (issue 16, points 6 and 7; the token runner) --------

BTC = "BTC/USDT:USDT"
LONG_SIGNAL = Signal(Direction.LONG, stop=90.0)


def runner(preset: str, capital: float, **overrides: object) -> TokenRunner:
    """A token portfolio with both funds launched at S = 100 (NAV 1) at T0."""
    specs = {side: token_spec(preset, side, {**NO_COSTS, **overrides}) for side in Side}
    tokens = TokenRunner("x/token", "x", BTC, capital, specs)
    tokens.on_path([PricePoint(T0, 100.0, 100.0, True, True)])
    return tokens


def test_the_spot_route_buys_and_sells_at_the_premium_and_spread_with_the_spot_fee() -> None:
    # Premium 0.2 %, spread 0.1 %, spot fee 0.1 %, NAV 1: buy at 1.002·1.0005 = 1.002501 with
    # 1,000 USDT: units = 1,000 / (1.002501·1.001), fee = 1,000·0.001/1.001 = 0.999001; sell
    # at 1.002·0.9995 = 1.001499, proceeds units·1.001499·0.999. No subscription fee, no window.
    tokens = runner("binance_blvt", 1_000.0, route="spot", spot_premium_pct=0.002)
    tokens.on_signal(T0, LONG_SIGNAL, 100.0)
    tokens.on_signal(T0 + timedelta(minutes=1), Signal.flat(), 100.0)
    records = tokens.drain()
    buy, sell = records.fills
    units = 1_000 / (1.002501 * 1.001)
    assert (buy.side, buy.reason, buy.price) == ("buy", FillReason.ENTRY, pytest.approx(1.002501))
    assert buy.qty == pytest.approx(units, rel=1e-12)
    assert buy.fee == pytest.approx(1_000 * 0.001 / 1.001, rel=1e-12)
    assert (sell.side, sell.reason, sell.price) == (
        "sell",
        FillReason.EXIT,
        pytest.approx(1.001499),
    )
    assert [f.kind for f in records.fees] == [FeeKind.TRADING, FeeKind.TRADING]
    assert tokens.cash == pytest.approx(units * 1.001499 * 0.999, rel=1e-12)
    assert not records.token_events and not records.refusals


def test_a_subscription_over_the_daily_cap_is_filled_up_to_it_and_the_rest_refused() -> None:
    # KuCoin: 30,000 USDT a day [KC-SUB]. 50,000 asked: 30,000 subscribed (fee 0.1 % inside),
    # 20,000 stay cash, one refusal counted.
    tokens = runner("kucoin", 50_000.0)
    tokens.on_signal(T0, LONG_SIGNAL, 100.0)
    records = tokens.drain()
    [fill] = records.fills
    assert fill.reason == FillReason.SUBSCRIBE
    assert fill.qty * fill.price + fill.fee == pytest.approx(30_000.0)
    assert tokens.cash == pytest.approx(20_000.0)
    assert [r.reason for r in records.refusals] == [Refusal.DAILY_CAP]


def test_auto_routes_the_rest_over_the_cap_to_the_spot_market() -> None:
    # Bybit: 200,000 USDT a day [BY-API]; 250,000 asked: 200,000 subscribed at NAV·1.0005
    # (fee 0.05 %), 50,000 bought on the spot market at 1·1.0005 with the 0.1 % spot fee.
    tokens = runner("bybit", 250_000.0, route="auto")
    tokens.on_signal(T0, LONG_SIGNAL, 100.0)
    records = tokens.drain()
    subscribed, bought = records.fills
    assert subscribed.reason == FillReason.SUBSCRIBE
    assert subscribed.qty == pytest.approx(200_000 / 1.0005, rel=1e-12)
    assert bought.reason == FillReason.ENTRY
    assert bought.qty == pytest.approx(50_000 / (1.0005 * 1.001), rel=1e-12)
    assert tokens.cash == 0.0 and not records.refusals


def test_a_redemption_over_the_cap_keeps_the_rest_until_the_next_utc_day() -> None:
    # 50,000 subscribed (no subscription cap here), at NAV 1 worth 49,950.05; a flat signal
    # redeems 30,000 USDT worth, the rest is refused and held; a resumed runner remembers the
    # day's use; the next UTC day the rest is redeemed.
    tokens = runner("kucoin", 50_000.0, daily_subscription_cap=None)
    tokens.on_signal(T0, LONG_SIGNAL, 100.0)
    held = tokens.funds[Side.LONG].units
    tokens.on_signal(T0 + timedelta(hours=1), Signal.flat(), 100.0)
    first = tokens.drain()
    assert first.fills[-1].qty == pytest.approx(30_000.0)  # units at NAV 1
    assert [r.reason for r in first.refusals] == [Refusal.DAILY_CAP]
    resumed = runner("kucoin", 0.0, daily_subscription_cap=None)
    resumed.restore(tokens.state())
    resumed.on_signal(T0 + timedelta(hours=2), Signal.flat(), 100.0)
    assert not resumed.drain().fills  # nothing left of today's cap
    resumed.on_signal(T0 + timedelta(days=1), Signal.flat(), 100.0)
    assert resumed.drain().fills[-1].qty == pytest.approx(held - 30_000.0)
    assert resumed.funds[Side.LONG].units == 0.0


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("kucoin", {"route": "spot"}, "route 'spot' needs spot_fee_pct"),
        ("ftx", {"route": "auto"}, "route 'auto' needs spot_fee_pct"),
        ("bybit", {"route": "market"}, "route must be one of subscribe, spot, auto"),
        ("bybit", {"spot_premium_pct": 1.0}, "spot_premium_pct must be in (-1, 1)"),
        ("bybit", {"daily_redemption_cap": 0}, "daily_redemption_cap must be a finite number"),
    ],
)
def test_bad_routes_and_caps_are_refused(
    preset: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        token_spec(preset, Side.LONG, overrides)
