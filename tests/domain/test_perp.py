"""The perp vehicles as stories: entries, stop-outs, gaps, take-profit, trailing stop,
liquidation, the liquidation guard, funding, and the accounting identity.

Fees in the hand-worked cases: taker 0.05 %, slippage 2 bp (0.0002) on every taker fill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.liquidation import (
    Tier,
    cumulative_amounts,
    liquidation_price,
    stop_comes_first,
    validate_tiers,
)
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_account import (
    Bookings,
    PerpAccount,
    close_position,
    nav_terms,
    on_bar,
    on_price,
)
from bot.domain.perp_funding import apply_funding
from bot.domain.perp_signals import apply_perp_signal, apply_static_signal
from bot.domain.price_path import bar_path
from bot.domain.records import FeeRecord
from bot.domain.sizing import USDM_RULES, loss_per_unit
from bot.domain.values import FeeKind, FillReason, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
BTC = "BTC/USDT:USDT"
RULES = USDM_RULES[BTC]  # lot 0.001 BTC, min notional 100, taker 0.05 %
FLOORS = [0.0, 50e3, 600e3, 3e6]
MMRS = [0.004, 0.005, 0.0065, 0.01]
TIERS = validate_tiers(
    [
        Tier(f, c, m, cum, lev)
        for f, c, m, cum, lev in zip(
            FLOORS,
            [*FLOORS[1:], 12e6],
            MMRS,
            cumulative_amounts(FLOORS, MMRS),
            [125, 100, 75, 50],
            strict=True,
        )
    ]
)  # fmt: skip  (MECHANICS §9 BTCUSDT tiers 1-4, 2024-10-24)


def account(capital: float = 10_000.0) -> PerpAccount:
    return PerpAccount(BTC, capital)


def enter(
    side: Side, price: float, stop: float, params: PerpParams, take_profit: float | None = None
) -> tuple[PerpAccount, Bookings]:
    return apply_perp_signal(account(), T0, side, price, stop, take_profit, params, RULES, TIERS)


# -- price path ---------------------------------------------------------------------------


def test_bar_path_visits_the_nearer_extreme_first() -> None:
    assert bar_path(100.0, 103.0, 90.0, 95.0) == (100.0, 103.0, 90.0, 95.0)
    assert bar_path(100.0, 110.0, 98.0, 105.0) == (100.0, 98.0, 110.0, 105.0)
    assert bar_path(100.0, 100.0, 90.0, 95.0) == (100.0, 90.0, 95.0)  # opens at its high


def test_bar_path_rejects_inconsistent_bars() -> None:
    with pytest.raises(ValueError, match="inconsistent bar"):
        bar_path(100.0, 99.0, 90.0, 95.0)
    with pytest.raises(ValueError, match="> 0"):
        bar_path(100.0, 110.0, 0.0, 95.0)


# -- hand-worked stop-outs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk_pct", "qty", "loss"),
    [
        # 2 %: qty = 200 / 1,000 = 0.2. Entry fill 50,010 (fee 0.2 x 50,010 x 0.0005 = 5.001,
        # slippage 0.2 x 50,000 x 0.0002 = 2); exit fill 48,990.2 (fee 4.89902, slippage 1.96).
        # Loss = 200 + 5.001 + 2 + 4.89902 + 1.96 = 213.86002.
        (0.02, 0.2, 213.86002),
        # 5 %: qty = 500 / 1,000 = 0.5. Fees 12.5025 + 12.24755, slippage 5 + 4.9.
        # Loss = 500 + 12.5025 + 5 + 12.24755 + 4.9 = 534.65005.
        (0.05, 0.5, 534.65005),
    ],
)
def test_stop_out_loses_the_risk_plus_fees_and_slippage(
    risk_pct: float, qty: float, loss: float
) -> None:
    params = PerpParams(risk_pct=risk_pct, fee_aware=False)
    acc, opened = enter(Side.LONG, 50_000.0, 49_000.0, params)
    assert acc.position is not None and acc.position.qty == qty
    assert opened.fills[0].price == 50_010.0

    # A bar that trades down through the stop: 50,000 -> 50,100 -> 48,800 -> 48,900.
    acc, stopped = on_bar(acc, T1, 50_000.0, 50_100.0, 48_800.0, 48_900.0)

    assert acc.position is None
    (fill,) = stopped.fills
    assert (fill.reason, fill.side, fill.qty) == (FillReason.STOP, "sell", qty)
    assert fill.price == pytest.approx(48_990.2)
    assert acc.nav(48_900.0) == pytest.approx(10_000.0 - loss, abs=1e-9)
    assert stopped.positions[0].pnl == pytest.approx(-loss, abs=1e-9)
    assert stopped.positions[0].exit_reason == "stop"
    assert acc.trading_fees + acc.slippage == pytest.approx(loss - risk_pct * 10_000.0)


@pytest.mark.parametrize("risk_pct", [0.02, 0.05])
def test_fee_aware_stop_out_loses_exactly_the_effective_risk(risk_pct: float) -> None:
    # Short ETH-like numbers on the BTC market: 3,000 with the stop 2 % above at 3,060.
    # Loss per unit = 60 + 3,000 x (0.0002 + 0.0005 x 0.9998) + 3,060 x (0.0002 + 0.0005 x 1.0002)
    #               = 60 + 2.0997 + 2.142306 = 64.242006.
    per_unit = 64.242006
    params = PerpParams(risk_pct=risk_pct)
    acc, opened = enter(Side.SHORT, 3_000.0, 3_060.0, params)
    record = opened.positions[0]
    assert acc.position is not None
    assert acc.position.qty == int(10_000 * risk_pct / per_unit * 1000) / 1000  # lot floor
    assert record.intended_risk == pytest.approx(10_000.0 * risk_pct)
    assert record.effective_risk == pytest.approx(acc.position.qty * per_unit)

    acc, _ = on_bar(acc, T1, 3_000.0, 3_100.0, 2_990.0, 3_080.0)

    assert acc.position is None
    assert 10_000.0 - acc.cash == pytest.approx(record.effective_risk, abs=1e-9)
    assert 10_000.0 * risk_pct - 64.25 < 10_000.0 - acc.cash <= 10_000.0 * risk_pct


def test_gap_through_the_stop_fills_at_the_bar_open() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(fee_aware=False))
    # The next bar opens at 48,500, below the stop: the stop fills there, not at 49,000.
    acc, stopped = on_bar(acc, T1, 48_500.0, 48_700.0, 48_200.0, 48_600.0)
    (fill,) = stopped.fills
    assert fill.reason is FillReason.STOP
    assert fill.price == pytest.approx(48_500.0 * 0.9998)
    # Loss = 0.2 x 1,500 + entry 5.001 + 2 + exit fee 0.2 x 48,490.3 x 0.0005 = 4.84903
    #        + slippage 0.2 x 48,500 x 0.0002 = 1.94 -> 313.79003.
    assert acc.nav(48_600.0) == pytest.approx(10_000.0 - 313.79003, abs=1e-9)


def test_gap_through_the_stop_on_a_tick_fills_at_the_tick_price() -> None:
    acc, _ = enter(Side.SHORT, 50_000.0, 51_000.0, PerpParams(fee_aware=False))
    acc, quiet = on_price(acc, T1, 50_900.0, 50_950.0)
    assert quiet == Bookings() and acc.position is not None
    acc, stopped = on_price(acc, T1, 51_400.0, 51_380.0)
    assert stopped.fills[0].price == pytest.approx(51_400.0 * 1.0002)
    assert stopped.fills[0].side == "buy"


def test_stop_can_trigger_on_the_mark_price() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(stop_trigger="mark"))
    acc, nothing = on_price(acc, T1, 48_990.0, 49_010.0)  # last below, mark above: no stop
    assert nothing.fills == () and acc.position is not None
    acc, stopped = on_price(acc, T1, 49_050.0, 48_995.0)  # mark below: a market sell at last
    assert stopped.fills[0].reason is FillReason.STOP
    assert stopped.fills[0].price == pytest.approx(49_050.0 * 0.9998)


def test_take_profit_fills_at_its_price_or_the_better_gap_price() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(), take_profit=52_000.0)
    continuous, _ = on_bar(acc, T1, 50_000.0, 52_500.0, 49_900.0, 52_100.0)
    gapped, booked = on_bar(acc, T1, 52_400.0, 52_800.0, 52_300.0, 52_500.0)
    assert continuous.realised_pnl == pytest.approx(acc.position.qty * 2_000.0)  # type: ignore[union-attr]
    assert booked.fills[0].reason is FillReason.TAKE_PROFIT
    assert gapped.realised_pnl == pytest.approx(acc.position.qty * 2_400.0)  # type: ignore[union-attr]


def test_trailing_stop_ratchets_and_then_fills() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(trailing_pct=0.02))
    # Up to 51,000: the stop moves to 51,000 x 0.98 = 49,980 and is written again.
    acc, moved = on_bar(acc, T1, 50_000.0, 51_000.0, 50_000.0, 50_800.0)
    assert acc.position is not None and acc.position.stop == pytest.approx(49_980.0)
    assert moved.positions[-1].stop == pytest.approx(49_980.0)
    # A dip to 50,500 leaves it; a later drop through 49,980 fills at the trailed stop.
    acc, _ = on_bar(acc, T1, 50_800.0, 50_900.0, 50_500.0, 50_600.0)
    assert acc.position is not None and acc.position.stop == pytest.approx(49_980.0)
    acc, stopped = on_bar(acc, T1, 50_600.0, 50_650.0, 49_500.0, 49_600.0)
    assert stopped.fills[0].price == pytest.approx(49_980.0 * 0.9998)


# -- signals --------------------------------------------------------------------------------


def test_opposite_signal_closes_then_opens_and_fee_indices_follow_the_fills() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams())
    acc, flipped = apply_perp_signal(
        acc, T1, Side.SHORT, 50_500.0, 51_500.0, None, PerpParams(), RULES, TIERS
    )
    assert [f.reason for f in flipped.fills] == [FillReason.EXIT, FillReason.ENTRY]
    assert [f.fill_index for f in flipped.fees] == [0, 0, 1, 1]
    assert acc.position is not None and acc.position.side is Side.SHORT
    assert acc.position.id == "2"


def test_same_side_signal_keeps_the_position_and_flat_closes_it() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams())
    kept, nothing = apply_perp_signal(
        acc, T1, Side.LONG, 50_500.0, 49_800.0, None, PerpParams(), RULES, TIERS
    )
    assert kept == acc and nothing == Bookings()
    flat, closed = apply_perp_signal(
        acc, T1, None, 50_500.0, None, None, PerpParams(), RULES, TIERS
    )
    assert flat.position is None and closed.fills[0].reason is FillReason.EXIT


def test_signal_without_stop_or_with_a_wrong_take_profit_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a stop"):
        apply_perp_signal(
            account(), T0, Side.LONG, 50_000.0, None, None, PerpParams(), RULES, TIERS
        )
    with pytest.raises(ValueError, match="take_profit 49500.0 must be above"):
        enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(), take_profit=49_500.0)
    with pytest.raises(ValueError, match="must be below the entry"):
        enter(Side.LONG, 50_000.0, 50_000.0, PerpParams())


def test_entry_below_minimum_notional_is_refused_with_a_note() -> None:
    tiny = PerpAccount(BTC, 50.0)
    acc, refused = apply_perp_signal(
        tiny, T0, Side.LONG, 50_000.0, 49_000.0, None, PerpParams(), RULES, TIERS
    )
    assert acc == tiny and refused.fills == ()
    assert refused.notes[0].startswith("entry refused: notional")


def test_size_is_capped_at_max_leverage() -> None:
    # 2 % risk over a 0.1 % stop wants ~20x; at max_leverage 5 the isolated margin (notional
    # / 5) plus the entry fee and slippage must fit in 10,000:
    # qty = floor(10,000 / (50,010 / 5 + 50,010 x 0.0005 + 50,000 x 0.0002), 0.001) = 0.996.
    acc, _ = enter(Side.LONG, 50_000.0, 49_950.0, PerpParams(max_leverage=5))
    assert acc.position is not None and acc.position.qty == 0.996
    # leverage = ceil(0.996 x 50,010 / (10,000 - 0.996 x 35.005)) = ceil(4.998) = 5
    assert acc.position.leverage == pytest.approx(5.0)
    assert acc.position.margin == pytest.approx(0.996 * 50_010.0 / 5)
    assert acc.cash - acc.position.margin >= 0.0  # the wallet outside the margin


# -- liquidation ----------------------------------------------------------------------------


def guarded_entry() -> tuple[PerpAccount, Bookings]:
    # 5 % risk, stop 3 % below, leverage setting 50x: the sized 0.318 BTC (margin 318 USDT)
    # would be liquidated near 49,000, above the stop at 48,500. The guard keeps the margin
    # and shrinks the quantity until the buffered liquidation price lies below the stop.
    params = PerpParams(risk_pct=0.05, leverage=50, max_leverage=50)
    return enter(Side.LONG, 50_000.0, 48_500.0, params)


def test_stop_beyond_the_liquidation_price_shrinks_the_position_and_says_so() -> None:
    acc, opened = guarded_entry()
    pos = acc.position
    assert pos is not None and pos.margin is not None and pos.liq_price is not None
    unguarded_lp = liquidation_price(Side.LONG, 0.318, 50_010.0, 0.318 * 50_010.0 / 50, TIERS)
    assert unguarded_lp is not None and unguarded_lp > 48_500.0
    assert pos.margin == pytest.approx(0.318 * 50_010.0 / 50)
    assert 0.0 < pos.qty < 0.318
    assert stop_comes_first(Side.LONG, 48_500.0, 50_010.0, pos.liq_price, 0.05)
    # The shrink is the largest lot multiple that works: one more lot puts the LP past the stop.
    one_more = liquidation_price(Side.LONG, pos.qty + 0.001, 50_010.0, pos.margin, TIERS)
    assert not stop_comes_first(Side.LONG, 48_500.0, 50_010.0, one_more, 0.05)
    assert pos.leverage < 50.0
    assert opened.notes == (f"shrunk from 0.318 to {pos.qty:g} so the stop comes before the "
                            "liquidation price",)  # fmt: skip
    record = opened.positions[0]
    assert record.liq_price == pos.liq_price
    assert record.effective_risk is not None and record.intended_risk == 500.0
    per_unit = loss_per_unit(Side.LONG, 50_000.0, 48_500.0, 0.0005, 0.0002)
    assert record.effective_risk == pytest.approx(pos.qty * per_unit)
    assert record.effective_risk < record.intended_risk


def test_guard_refuses_when_the_shrunk_size_is_below_the_minimum() -> None:
    params = PerpParams(risk_pct=0.05, leverage=50, max_leverage=50)
    acc, refused = enter(Side.LONG, 50_000.0, 25_000.0, params)
    assert acc.position is None
    assert refused.notes[0].startswith("entry refused: stop beyond the liquidation price")


def test_gap_through_stop_and_liquidation_liquidates_first() -> None:
    acc, _ = guarded_entry()
    pos = acc.position
    assert pos is not None and pos.margin is not None and pos.liq_price is not None
    entry_fee = pos.qty * 50_010.0 * 0.0005
    acc, booked = on_bar(acc, T1, pos.liq_price - 500.0, pos.liq_price, 47_000.0, 47_500.0)
    (fill,) = booked.fills
    # The open gapped beyond the bankruptcy price (50,010 - margin / qty): the fill stops
    # there, nothing is left of the margin for a clearance fee.
    assert pos.bankruptcy == pytest.approx(50_010.0 - pos.margin / pos.qty)
    assert pos.liq_price - 500.0 < pos.bankruptcy
    assert fill.reason is FillReason.LIQUIDATION and fill.price == pos.bankruptcy
    assert fill.fee == pytest.approx(0.0, abs=1e-9)
    # The whole isolated margin is lost, plus the entry fee.
    assert acc.cash == pytest.approx(10_000.0 - pos.margin - entry_fee, abs=1e-9)
    assert booked.positions[0].exit_reason == "liquidation"


def test_continuous_move_through_the_stop_stops_before_liquidation() -> None:
    acc, _ = guarded_entry()
    acc, booked = on_bar(acc, T1, 50_000.0, 50_100.0, 47_000.0, 47_500.0)
    assert booked.fills[0].reason is FillReason.STOP
    assert booked.fills[0].price == pytest.approx(48_500.0 * 0.9998)


def test_static_perp_has_no_stop_and_is_liquidated_at_its_liquidation_price() -> None:
    params = StaticPerpParams(leverage=3)
    acc, opened = apply_static_signal(account(), T0, Side.LONG, 50_000.0, params, RULES, TIERS)
    pos = acc.position
    assert pos is not None and pos.stop is None and pos.margin is not None
    # Margin + entry fee + slippage fit in the NAV:
    # qty = floor(10,000 / (50,010 / 3 + 50,010 x 0.0005 + 50,000 x 0.0002), 0.001) = 0.598;
    # margin = 0.598 x 50,010 / 3 = 9,968.66.
    assert pos.qty == 0.598
    assert pos.margin == pytest.approx(9_968.66)
    # LP = (0.598 x 50,010 - margin) / (0.598 x (1 - 0.004)) (tier 1: notional ~ 30 k).
    lp = (0.598 * 50_010.0 - pos.margin) / (0.598 * 0.996)
    assert pos.liq_price == pytest.approx(lp)
    assert opened.positions[0].stop is None and opened.positions[0].risk_pct is None
    acc, kept = on_bar(acc, T1, 50_000.0, 50_000.0, lp + 1.0, lp + 50.0)
    assert acc.position is not None and kept.fills == ()
    acc, booked = on_bar(acc, T1, lp + 50.0, lp + 60.0, lp - 10.0, lp)
    (fill,) = booked.fills
    # A continuous move: closed at the liquidation price. The margin left there (the
    # maintenance margin, 0.4 % of the notional) is below the clearance fee (2 % of the
    # notional, exchangeInfo liquidationFee): it all goes, and nothing more.
    assert fill.reason is FillReason.LIQUIDATION and fill.price == pytest.approx(lp)
    left = pos.margin + 0.598 * (lp - 50_010.0)
    assert left == pytest.approx(0.004 * 0.598 * lp)
    assert booked.fees == (FeeRecord(T1, FeeKind.LIQUIDATION, fill.fee, fill_index=0),)
    assert fill.fee == pytest.approx(left)
    assert acc.cash == pytest.approx(10_000.0 - pos.margin - 0.598 * 50_010.0 * 0.0005)


# -- funding --------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "stop", "amount"), [(Side.LONG, 49_000.0, 1.0),
                                                      (Side.SHORT, 51_000.0, -1.0)])  # fmt: skip
def test_funding_longs_pay_a_positive_rate(side: Side, stop: float, amount: float) -> None:
    acc, _ = enter(side, 50_000.0, stop, PerpParams(fee_aware=False))  # 0.2 BTC
    nav_before = acc.nav(50_000.0)
    acc, booked = apply_funding(acc, T1, 0.0001, 50_000.0, tiers=TIERS)
    # payment = mark x qty x rate = 50,000 x 0.2 x 0.0001 = 1 USDT (received by the short).
    assert booked.fees == (FeeRecord(T1, FeeKind.FUNDING, amount),)
    assert acc.funding == pytest.approx(amount)
    assert acc.nav(50_000.0) == pytest.approx(nav_before - amount)


def test_the_same_settlement_is_booked_once() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(fee_aware=False))
    acc, first = apply_funding(acc, T1, 0.0001, 50_000.0, tiers=TIERS)
    again, second = apply_funding(acc, T1, 0.0001, 50_000.0, tiers=TIERS)
    older, third = apply_funding(acc, T1 - timedelta(hours=8), 0.0001, 50_000.0, tiers=TIERS)
    assert len(first.fees) == 1
    assert second == third == Bookings()
    assert again == older == acc


def test_funding_needs_a_position_open_at_the_settlement() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams())
    acc, booked = apply_funding(acc, T0 - timedelta(minutes=1), 0.0001, 50_000.0, tiers=TIERS)
    assert booked == Bookings() and acc.funding == 0.0
    flat, none = apply_funding(account(), T1, 0.0001, 50_000.0, tiers=TIERS)
    assert none == Bookings() and flat.last_funding_at == T1


def test_funding_is_part_of_the_closed_position_pnl() -> None:
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, PerpParams(fee_aware=False, slippage_bps=0))
    acc, _ = apply_funding(acc, T1, 0.0001, 50_000.0, tiers=TIERS)
    acc, closed = close_position(acc, T1, 50_000.0)
    # Flat price: the PnL is minus the two fees (5 + 5) and the funding (1).
    assert closed.positions[0].pnl == pytest.approx(-11.0)


# -- NAV and the identity -------------------------------------------------------------------


def test_nav_record_by_hand() -> None:
    acc, _ = enter(Side.SHORT, 50_000.0, 51_000.0, PerpParams(fee_aware=False))  # 0.2 BTC
    acc, booked = apply_funding(acc, T1, -0.0002, 50_200.0, tiers=TIERS)
    # A negative rate: shorts pay. payment = -1 x 50,200 x 0.2 x -0.0002 = +2.008 USDT.
    assert booked.fees[0].amount == pytest.approx(2.008)
    record = nav_terms(acc).record(T1, 49_000.0)
    # NAV = 10,000 - entry fee 0.2 x 49,990 x 0.0005 (4.999) - slippage 2 - funding 2.008
    #       + unrealised 0.2 x 1,000 = 10,190.993.
    assert record.nav == pytest.approx(10_190.993, abs=1e-9)
    assert record.cash == pytest.approx(10_000.0 - 4.999 - 2.0 - 2.008, abs=1e-9)
    assert record.exposure == pytest.approx(-0.2 * 49_000.0)
    assert record.leverage == pytest.approx(record.exposure / record.nav)


def test_account_and_params_survive_the_resume_codec() -> None:
    from bot.runtime import state_codec

    params = PerpParams(risk_pct=0.03, trailing_pct=0.05, stop_trigger="mark")
    acc, _ = enter(Side.LONG, 50_000.0, 49_000.0, params)
    acc, _ = apply_funding(acc, T1, 0.0001, 50_000.0, tiers=TIERS)
    assert state_codec.loads(state_codec.dumps(acc)) == acc
    assert state_codec.loads(state_codec.dumps(params)) == params
