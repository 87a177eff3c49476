"""Isolated margin, hand-worked (issue 14): risk sizing with the margin rule, funding paid from
the margin, the guard after funding, liquidation by funding and gaps through the liquidation
price. ETHUSDT, 10,000 USDT, entry reference 3,000, taker 0.05 %, slippage 2 bp, bundled tier 1
(MMR 0.4 %, cum 0), exchangeInfo liquidationFee 2 %.

Executed entry EP = 3,000 x 1.0002 = 3,000.6 (long) or 3,000 x 0.9998 = 2,999.4 (short).
Loss per unit at the stop (fee-aware, MECHANICS §10 with slippage):
- long to 2,880: 120 + 3,000 x 0.0007001 + 2,880 x 0.0006999 = 124.116012
- short to 3,120: 120 + 3,000 x 0.0006999 + 3,120 x 0.0007001 = 124.284012
Margin rule: leverage = the smallest whole setting with margin + entry fee and slippage <= NAV.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.ccxt.tiers import tiers_for
from bot.domain.liquidation import liquidation_price, stop_comes_first
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_account import PerpAccount, on_price
from bot.domain.perp_funding import FundingGuard, apply_funding
from bot.domain.perp_signals import apply_perp_signal, apply_static_signal
from bot.domain.records import FeeRecord
from bot.domain.sizing import USDM_RULES
from bot.domain.values import FeeKind, FillReason, Side
from bot.portfolios.accounts import AccountRunner

ETH = "ETH/USDT:USDT"
RULES = USDM_RULES[ETH]
TIERS = tiers_for(ETH)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
T8 = T0 + timedelta(hours=8)


def enter(side: Side, stop: float, params: PerpParams) -> PerpAccount:
    acc, _ = apply_perp_signal(
        PerpAccount(ETH, 10_000.0), T0, side, 3_000.0, stop, None, params, RULES, TIERS
    )
    return acc


@pytest.mark.parametrize(
    ("risk", "qty", "leverage", "margin", "liq", "bankruptcy", "effective"),
    [
        # 200 / 124.116012 = 1.6114 -> 1.611; 1.611 x 3,000.6 = 4,833.9666 fits at 1x: a 1x
        # long has no positive liquidation price (0.0) and goes bankrupt at 0.
        (0.02, 1.611, 1.0, 4_833.9666, 0.0, 0.0, 199.950895332),
        # 500 / 124.116012 = 4.0285 -> 4.028; notional 12,086.4168 needs 2x; margin 6,043.2084;
        # LP = (6,043.2084 - 12,086.4168) / (4.028 x (0.004 - 1)) = 1,506.3253;
        # bankruptcy = 3,000.6 - 6,043.2084 / 4.028 = 1,500.3.
        (0.05, 4.028, 2.0, 6_043.2084, 1_506.3253012048, 1_500.3, 499.939296336),
    ],
)
def test_risk_sizing_of_a_long_has_a_margin_and_a_liquidation_price(
    risk: float,
    qty: float,
    leverage: float,
    margin: float,
    liq: float,
    bankruptcy: float,
    effective: float,
) -> None:
    acc = enter(Side.LONG, 2_880.0, PerpParams(risk_pct=risk))
    pos = acc.position
    assert pos is not None and pos.qty == qty and pos.leverage == leverage
    assert pos.margin == pytest.approx(margin) and pos.initial_margin == pos.margin
    assert pos.liq_price == pytest.approx(liq) and pos.bankruptcy == pytest.approx(bankruptcy)
    assert pos.effective_risk == pytest.approx(effective)
    # A stop-out (continuous) loses exactly the effective risk, fee-aware.
    acc, _ = on_price(acc, T8, 2_880.0, 2_880.0, gap=False)
    assert acc.cash == pytest.approx(10_000.0 - effective)


def test_risk_sizing_of_a_short() -> None:
    # 500 / 124.284012 = 4.0230 -> 4.023; notional 4.023 x 2,999.4 = 12,066.5862 -> 2x,
    # margin 6,033.2931; LP = (6,033.2931 + 12,066.5862) / (4.023 x 1.004) = 4,481.1753;
    # bankruptcy = 2,999.4 + 6,033.2931 / 4.023 = 4,499.1.
    acc = enter(Side.SHORT, 3_120.0, PerpParams(risk_pct=0.05))
    pos = acc.position
    assert pos is not None and pos.qty == 4.023 and pos.leverage == 2.0
    assert pos.margin == pytest.approx(6_033.2931)
    assert pos.liq_price == pytest.approx(4_481.175298804781)
    assert pos.bankruptcy == pytest.approx(4_499.1)
    assert pos.effective_risk == pytest.approx(4.023 * 124.284012)


def test_a_gap_through_the_liquidation_price_loses_the_margin_and_the_fees() -> None:
    acc = enter(Side.LONG, 2_880.0, PerpParams(risk_pct=0.05))
    acc, booked = on_price(acc, T8, 1_000.0, 1_000.0, gap=True)
    (fill,) = booked.fills
    # The mark gapped below the bankruptcy price 1,500.3: filled there, nothing left to clear.
    assert fill.reason is FillReason.LIQUIDATION and fill.price == pytest.approx(1_500.3)
    assert fill.fee == pytest.approx(0.0, abs=1e-9)
    entry_fee = 4.028 * 3_000.6 * 0.0005  # 6.0432084
    assert acc.cash == pytest.approx(10_000.0 - 6_043.2084 - entry_fee)  # 3,950.7484
    assert booked.positions[0].pnl == pytest.approx(-(6_043.2084 + entry_fee))


def tight_long() -> PerpAccount:
    # Leverage setting 20: margin 12,086.4168 / 20 = 604.32084; LP = (604.32084 -
    # 12,086.4168) / (4.028 x -0.996) = 2,862.0181; buffered 2,868.95 < stop 2,880: accepted.
    acc = enter(Side.LONG, 2_880.0, PerpParams(risk_pct=0.05, leverage=20, max_leverage=20))
    assert acc.position is not None and acc.position.liq_price == pytest.approx(2_862.018072)
    return acc


def test_funding_is_paid_from_the_margin_and_moves_the_liquidation_price() -> None:
    acc = tight_long()
    # 0.2 % at mark 2,950: 4.028 x 2,950 x 0.002 = 23.7652 from the margin -> 580.55564;
    # LP = (580.55564 - 12,086.4168) / -4.011888 = 2,867.9418 (still 2,874.57 buffered).
    acc, booked = apply_funding(acc, T8, 0.002, 2_950.0, tiers=TIERS, guard=guard())
    pos = acc.position
    assert pos is not None and pos.qty == 4.028
    assert booked.fees == (FeeRecord(T8, FeeKind.FUNDING, pytest.approx(23.7652)),)
    assert pos.margin == pytest.approx(580.55564) and pos.initial_margin == 604.32084
    assert pos.liq_price == pytest.approx(2_867.941683)
    assert booked.positions[0].liq_price == pos.liq_price  # the ledger follows
    # Funding received adds to the margin: the liquidation price moves away.
    acc, _ = apply_funding(acc, T8 + timedelta(hours=8), -0.002, 2_950.0, tiers=TIERS)
    assert acc.position is not None and acc.position.margin == pytest.approx(604.32084)


def guard() -> FundingGuard:
    return FundingGuard(0.05, RULES)


def test_funding_that_moves_the_liquidation_price_past_the_stop_shrinks_the_trade() -> None:
    acc = tight_long()
    # 1 % at 2,950: 118.826 -> margin 485.49484, LP 2,891.64: past the stop at 2,880.
    acc, booked = apply_funding(acc, T8, 0.01, 2_950.0, tiers=TIERS, guard=guard())
    pos = acc.position
    assert pos is not None and pos.qty == 3.186
    (fill,) = booked.fills  # reduce-only taker sell of 0.842 at 2,950 x 0.9998
    assert fill.reason is FillReason.EXIT and fill.qty == pytest.approx(0.842)
    assert fill.price == pytest.approx(2_949.41) and fill.fee == pytest.approx(0.842 * 1.474705)
    # The reduced part's PnL and fee settle against the margin: per unit 2,949.41 - 3,000.6 -
    # 1.474705 = -52.664705, so 485.49484 - 0.842 x 52.664705 = 441.1511584.
    assert pos.margin == pytest.approx(441.1511584)
    lp = (441.1511584 - 3.186 * 3_000.6) / (3.186 * -0.996)  # 2,873.6290
    assert pos.liq_price == pytest.approx(lp)
    assert stop_comes_first(Side.LONG, 2_880.0, 3_000.6, lp, 0.05)  # buffered 2,879.98
    # ... and 3.186 is the largest lot that does it.
    more = liquidation_price(Side.LONG, 3.187, 3_000.6, 441.1511584 - 0.001 * 52.664705, TIERS)
    assert not stop_comes_first(Side.LONG, 2_880.0, 3_000.6, more, 0.05)
    # The stop now comes first, and the trade (funding aside) loses less than the 500 risked.
    acc, stopped = on_price(acc, T8, 2_880.0, 2_880.0, gap=False)
    assert stopped.fills[0].reason is FillReason.STOP
    assert 10_000.0 - acc.cash - acc.funding < 500.0 and acc.funding == pytest.approx(118.826)


def test_funding_alone_can_liquidate_and_the_loss_stops_at_the_margin() -> None:
    acc = tight_long()
    # 5 % at 2,950: 594.13 leaves 10.19 of margin: LP above the mark, liquidated at once, at
    # the bankruptcy price 3,000.6 - 10.19 / 4.028 = 2,998.07 (the mark is beyond it).
    acc, booked = apply_funding(acc, T8, 0.05, 2_950.0, tiers=TIERS, guard=guard())
    assert acc.position is None
    (fill,) = booked.fills
    assert fill.reason is FillReason.LIQUIDATION and fill.price == pytest.approx(2_998.07)
    # Lost: the initial margin (funding included) and the entry fee, nothing more.
    assert acc.nav(2_950.0) == pytest.approx(10_000.0 - 604.32084 - 4.028 * 3_000.6 * 0.0005)
    assert booked.positions[0].margin == 604.32084


def test_funding_that_empties_the_margin_of_a_winning_position_does_not_liquidate_it() -> None:
    # A 3x static long from 3,000 (9.977 ETH, margin 9,978.9954) with the mark at 9,000:
    # 2 % of 9,000 x 9.977 = 1,795.86 a settlement empties the margin in six, but the position
    # is far in profit. §9 with the (negative) wallet balance puts the LP above the entry and
    # far below the mark: no liquidation until the mark comes down to it.
    acc, _ = apply_static_signal(
        PerpAccount(ETH, 10_000.0), T0, Side.LONG, 3_000.0, StaticPerpParams(leverage=3),
        RULES, TIERS,
    )  # fmt: skip
    pos = acc.position
    assert pos is not None
    at = T8
    for _ in range(6):
        acc, _ = apply_funding(acc, at, 0.02, 9_000.0, tiers=TIERS)
        at += timedelta(hours=8)
    pos = acc.position
    assert pos is not None and pos.margin == pytest.approx(9_978.9954 - 6 * 1_795.86)
    fill = 3_000.6
    lp = (pos.margin - pos.qty * fill) / (pos.qty * (0.004 - 1.0))
    assert pos.liq_price == pytest.approx(lp) and fill < lp < 9_000.0  # about 3,193
    assert acc.nav(9_000.0) > 10_000.0
    # the mark falls through the LP: liquidated there, the margin left (0.4 % MM) cleared
    acc, closed = on_price(acc, at, 3_000.0, 3_000.0, gap=True)
    assert closed.fills[0].reason is FillReason.LIQUIDATION
    assert acc.nav(3_000.0) >= 0.0


def test_a_position_from_an_older_resume_state_gets_its_margin_rules() -> None:
    runner = AccountRunner("x/perp", "x", ETH, 10_000.0, PerpParams(risk_pct=0.05), RULES, TIERS)
    acc = enter(Side.LONG, 2_880.0, PerpParams(risk_pct=0.05))
    assert acc.position is not None
    old = replace(
        acc, position=replace(acc.position, initial_margin=None, liquidation_fee=0.0,
                              liq_price=None, bankruptcy=None),
    )  # fmt: skip
    runner.restore({"account": old})  # no "died_at" either
    pos = runner.account.position
    assert pos is not None and pos.initial_margin == pytest.approx(6_043.2084)
    assert pos.liquidation_fee == 0.02 and pos.liq_price == pytest.approx(1_506.3253012048)
    assert pos.bankruptcy == pytest.approx(1_500.3) and runner.died_at is None
