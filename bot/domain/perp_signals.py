"""The `perp` and `perp_static` vehicles: turn a strategy's wish into sized isolated positions.

Units: prices in USDT per base unit, quantities in base units, money in USDT. `target` is the
side the strategy wants (None = flat). Sizing follows MECHANICS §10, the liquidation guard §9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.liquidation import (
    Tier,
    bankruptcy_price,
    liquidation_price,
    max_qty_with_stop_first,
    stop_comes_first,
    tier_for,
)
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_account import (
    NOTHING,
    Bookings,
    Entry,
    PerpAccount,
    close_position,
    open_position,
)
from bot.domain.sizing import (
    MarketRules,
    RiskOrder,
    fill_price,
    loss_per_unit,
    min_notional_refusal,
    round_down_to_step,
    size_by_risk,
)
from bot.domain.spot import SpotParams, apply_spot_signal
from bot.domain.values import FillReason, Side


@dataclass(frozen=True, slots=True)
class Margin:
    """Isolated margin terms of a sized order: quantity, leverage setting, margin (USDT),
    liquidation and bankruptcy prices (None when it cannot be liquidated)."""

    qty: float
    leverage: float
    margin: float
    liq_price: float | None
    bankruptcy: float | None


def apply_perp_signal(
    account: PerpAccount,
    at: datetime,
    target: Side | None,
    price: float,
    stop: float | None,
    take_profit: float | None,
    params: PerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Act on a signal at reference `price`: close an opposite or unwanted position, then open
    a risk-sized one. A position already on the wanted side is kept as it is (stop included).

    Raises ValueError for a long/short signal without a stop, or a stop/take-profit on the
    wrong side of the price, or at zero distance.
    """
    account, closed = _close_unless(account, at, target, price)
    if target is None or account.position is not None:
        return account, closed
    if stop is None:
        raise ValueError(f"a {target.label} perp signal needs a stop price")
    account, opened = open_risk_sized(
        account, at, target, price, stop, take_profit, params, rules, tiers
    )
    return account, closed + opened


def apply_account_signal(
    account: PerpAccount,
    at: datetime,
    target: Side | None,
    price: float,
    stop: float | None,
    take_profit: float | None,
    params: PerpParams | StaticPerpParams | SpotParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Act on a signal with the account's vehicle: `perp` (risk-sized, stop and take-profit),
    `perp_static` (fixed leverage, no stop) or `spot` (long only), chosen by `params`."""
    if isinstance(params, PerpParams):
        return apply_perp_signal(
            account, at, target, price, stop, take_profit, params, rules, tiers
        )
    if isinstance(params, StaticPerpParams):
        return apply_static_signal(account, at, target, price, params, rules, tiers)
    return apply_spot_signal(account, at, target, price, params, rules)


def apply_static_signal(
    account: PerpAccount,
    at: datetime,
    target: Side | None,
    price: float,
    params: StaticPerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Act on a signal with a fixed-leverage position without stop (`perp_static`)."""
    account, closed = _close_unless(account, at, target, price)
    if target is None or account.position is not None:
        return account, closed
    account, opened = open_static(account, at, target, price, params, rules, tiers)
    return account, closed + opened


def _close_unless(
    account: PerpAccount, at: datetime, target: Side | None, price: float
) -> tuple[PerpAccount, Bookings]:
    pos = account.position
    if pos is None or pos.side is target:
        return account, NOTHING
    return close_position(account, at, price, FillReason.EXIT)


def open_risk_sized(
    account: PerpAccount,
    at: datetime,
    side: Side,
    price: float,
    stop: float,
    take_profit: float | None,
    params: PerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Open a position sized so that a stop-out loses `risk_pct` of the NAV (§10).

    Capped at max_leverage (or the leverage setting) x NAV in notional, rounded down to the
    lot step, refused below the minimum notional, and shrunk when its stop lies beyond the
    buffered liquidation price. Returns a note and no records when refused.
    """
    _check_take_profit(side, price, take_profit)
    equity = account.nav(price)
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    slippage = params.slippage_bps / 10_000.0
    # The cap bounds the executed notional: convert it to the reference price sizing uses.
    executed = fill_price(price, side is Side.LONG, slippage)
    cap = (params.leverage or params.max_leverage) * equity * price / executed
    if not equity > 0.0:
        return account, Bookings(notes=(f"entry refused: NAV {equity:.2f} USDT",))
    order = RiskOrder(
        side, price, stop, equity, params.risk_pct, cap, fee, slippage, params.fee_aware
    )
    sizing = size_by_risk(order, rules)
    if sizing.refused is not None:
        return account, Bookings(notes=(f"entry refused: {sizing.refused}",))
    terms, notes = _margin_terms(sizing.qty, side, price, stop, equity, params, rules, tiers)
    if isinstance(terms, str):
        return account, Bookings(notes=(*notes, f"entry refused: {terms}"))
    per_unit = loss_per_unit(side, price, stop, fee, slippage)
    entry = Entry(
        side, terms.qty, price, fee, slippage, terms.leverage, terms.margin, terms.liq_price,
        terms.bankruptcy, stop, take_profit, params.trailing_pct, params.stop_trigger,
        params.risk_pct, sizing.intended_risk, terms.qty * per_unit, notes=notes,
    )  # fmt: skip
    return open_position(account, at, entry)


def _check_take_profit(side: Side, price: float, take_profit: float | None) -> None:
    if take_profit is not None and (take_profit - price) * float(side) <= 0.0:
        where = "above" if side is Side.LONG else "below"
        raise ValueError(f"take_profit {take_profit} must be {where} {price} for a {side.label}")


def _margin_terms(
    qty: float,
    side: Side,
    price: float,
    stop: float,
    equity: float,
    params: PerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[Margin | str, tuple[str, ...]]:
    executed = fill_price(price, side is Side.LONG, params.slippage_bps / 10_000.0)
    # Auto leverage: the smallest whole setting whose initial margin fits in the NAV.
    leverage = params.leverage or max(1.0, float(math.ceil(qty * executed / equity - 1e-9)))
    terms = isolated_terms(side, qty, executed, leverage, tiers)
    if isinstance(terms, str) or stop_comes_first(
        side, stop, executed, terms.liq_price, params.liquidation_buffer
    ):
        return terms, ()
    # Guard (§10): the stop lies beyond the buffered liquidation price. Keep the margin and
    # shrink the quantity until the stop comes first; this lowers the effective leverage.
    wanted = max_qty_with_stop_first(
        side, stop, executed, terms.margin, tiers, params.liquidation_buffer
    )
    shrunk = round_down_to_step(wanted, rules.lot_step)
    refusal = min_notional_refusal(shrunk, price, rules)
    if refusal is not None:
        return f"stop beyond the liquidation price and {refusal}", ()
    note = f"shrunk from {qty:g} to {shrunk:g} so the stop comes before the liquidation price"
    return _with_margin(side, shrunk, executed, terms.margin, tiers), (note,)


def isolated_terms(
    side: Side, qty: float, executed: float, leverage: float, tiers: Sequence[Tier]
) -> Margin | str:
    """Margin terms at a leverage setting, or the reason the bracket refuses that leverage."""
    bracket = tier_for(tiers, qty * executed)
    if leverage > bracket.max_leverage:
        return f"leverage {leverage:g} above the bracket maximum {bracket.max_leverage:g}"
    return _with_margin(side, qty, executed, qty * executed / leverage, tiers)


def _with_margin(
    side: Side, qty: float, executed: float, margin: float, tiers: Sequence[Tier]
) -> Margin:
    lp = liquidation_price(side, qty, executed, margin, tiers)
    bankruptcy = None if lp is None else bankruptcy_price(side, qty, executed, margin)
    return Margin(qty, qty * executed / margin, margin, lp, bankruptcy)


def open_static(
    account: PerpAccount,
    at: datetime,
    side: Side,
    price: float,
    params: StaticPerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Open notional = leverage x NAV at `price` with isolated margin = notional / leverage."""
    equity = account.nav(price)
    if not equity > 0.0:
        return account, Bookings(notes=(f"entry refused: NAV {equity:.2f} USDT",))
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    slippage = params.slippage_bps / 10_000.0
    executed = fill_price(price, side is Side.LONG, slippage)
    qty = round_down_to_step(params.leverage * equity / executed, rules.lot_step)
    refusal = min_notional_refusal(qty, price, rules)
    terms = refusal or isolated_terms(side, qty, executed, params.leverage, tiers)
    if isinstance(terms, str):
        return account, Bookings(notes=(f"entry refused: {terms}",))
    entry = Entry(
        side, qty, price, fee, slippage, terms.leverage, terms.margin, terms.liq_price,
        terms.bankruptcy,
    )  # fmt: skip
    return open_position(account, at, entry)
