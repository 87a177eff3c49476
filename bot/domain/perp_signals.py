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
    refused,
)
from bot.domain.sizing import (
    MarketRules,
    RiskOrder,
    fill_price,
    loss_per_unit,
    min_notional_refusal,
    round_down_to_step,
    size_by_risk,
    stop_from_pct,
)
from bot.domain.spot import SpotParams, apply_spot_signal
from bot.domain.values import FillReason, Refusal, Side


@dataclass(frozen=True, slots=True)
class Margin:
    """Isolated margin terms of a sized order: quantity, leverage setting, margin (USDT),
    liquidation price (None when no positive price can liquidate it) and bankruptcy price."""

    qty: float
    leverage: float
    margin: float
    liq_price: float | None
    bankruptcy: float


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
    stop_pct: float | None = None,
) -> tuple[PerpAccount, Bookings]:
    """Act on a signal at reference `price`: close an opposite or unwanted position, then open
    a risk-sized one. A position already on the wanted side is kept as it is (stop included).

    The stop is `stop` (a price) or, with `stop_pct`, that fraction of the entry's fill price
    (`sizing.stop_from_pct`); risk sizing then uses it like any stop. Raises ValueError for a
    long/short signal with neither or both, a stop_pct outside (0, 1), or a stop/take-profit on
    the wrong side of the price, or at zero distance.
    """
    account, closed = _close_unless(account, at, target, price)
    if target is None or account.position is not None:
        return account, closed
    if stop is not None and stop_pct is not None:
        raise ValueError(f"a {target.label} perp signal takes a stop or a stop_pct, not both")
    if stop_pct is not None:
        # The fill the position will open at: the reference price moved by slippage (§10).
        fill = fill_price(price, target is Side.LONG, params.slippage_bps / 10_000.0)
        stop = stop_from_pct(target, fill, stop_pct)
    if stop is None:
        raise ValueError(f"a {target.label} perp signal needs a stop price or a stop_pct")
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
    stop_pct: float | None = None,
) -> tuple[PerpAccount, Bookings]:
    """Act on a signal with the account's vehicle: `perp` (risk-sized, a stop price or a
    stop_pct, and take-profit), `perp_static` (fixed leverage, no stop) or `spot` (long only),
    chosen by `params`."""
    if isinstance(params, PerpParams):
        return apply_perp_signal(
            account, at, target, price, stop, take_profit, params, rules, tiers, stop_pct
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


def keeps(
    account: PerpAccount, target: Side | None, params: PerpParams | StaticPerpParams | SpotParams
) -> bool:
    """Whether a signal for `target` leaves `account` as it is (`apply_account_signal` would
    book nothing): it holds that side already (kept as it is, stop included), or it is flat
    and stays flat; spot cannot short, so a short signal is a flat one there."""
    if target is Side.SHORT and isinstance(params, SpotParams):
        target = None  # as `apply_spot_signal` reads it
    pos = account.position
    return target is None if pos is None else pos.side is target


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

    Capped so that the isolated margin at max_leverage (or the leverage setting) plus the
    entry's fee and slippage fit in the NAV, rounded down to the lot step, refused below the
    minimum notional, and shrunk when its stop lies beyond the buffered liquidation price.
    Returns a note and the reason, and no records, when refused.
    """
    _check_take_profit(side, price, take_profit)
    equity = account.nav(price)
    if not equity > 0.0:
        return account, refused(Refusal.NO_EQUITY, f"NAV {equity:.2f} USDT")
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    slippage = params.slippage_bps / 10_000.0
    cap = max_qty(equity, price, side, params.leverage or params.max_leverage, fee, slippage)
    order = RiskOrder(
        side, price, stop, equity, params.risk_pct, cap * price, fee, slippage, params.fee_aware
    )
    sizing = size_by_risk(order, rules)
    if sizing.refused is not None:
        return account, refused(Refusal.MIN_NOTIONAL, sizing.refused)
    terms = _margin_terms(sizing.qty, side, price, stop, equity, params, rules, tiers)
    if isinstance(terms[0], Refusal):
        return account, refused(terms[0], terms[1][0])
    margin, notes = terms
    per_unit = loss_per_unit(side, price, stop, fee, slippage)
    entry = Entry(
        side, margin.qty, price, fee, slippage, margin.leverage, margin.margin,
        margin.liq_price or 0.0, margin.bankruptcy, stop, take_profit, params.trailing_pct,
        params.stop_trigger, params.risk_pct, sizing.intended_risk, margin.qty * per_unit,
        notes=notes, liquidation_fee=rules.liquidation_fee,
    )  # fmt: skip
    return open_position(account, at, entry)


def max_qty(
    equity: float, price: float, side: Side, leverage: float, fee: float, slippage: float
) -> float:
    """The largest quantity whose isolated margin at `leverage` plus the entry's fee and
    slippage fit in `equity` (USDT): q x (EP / L + EP x fee + P x slippage) = equity, with EP
    the executed entry price. Binance takes the initial margin and the opening fee from the
    available balance, so neither may exceed what the account has."""
    executed = fill_price(price, side is Side.LONG, slippage)
    return equity / (executed / leverage + executed * fee + price * slippage)


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
) -> tuple[Margin, tuple[str, ...]] | tuple[Refusal, tuple[str]]:
    slippage = params.slippage_bps / 10_000.0
    executed = fill_price(price, side is Side.LONG, slippage)
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    # Margin rule of a risk-sized perp: the leverage setting comes from the sizing, the
    # smallest whole leverage whose isolated margin (notional / leverage) plus the entry's
    # fee and slippage fit in the NAV, capped by max_leverage (the sizing's cap makes that
    # fit) or fixed by `leverage`; the bracket's maximum leverage refuses more (§9). So a
    # risk-sized perp always has a margin, a liquidation price (0.0 when no positive price
    # can liquidate it, e.g. a 1x long) and a bankruptcy price.
    costs = qty * (executed * fee + price * slippage)
    needed = qty * executed / (equity - costs)
    leverage = params.leverage or min(
        params.max_leverage, max(1.0, float(math.ceil(needed - 1e-9)))
    )
    terms = isolated_terms(side, qty, executed, leverage, tiers)
    if isinstance(terms, str):
        return Refusal.LEVERAGE_BRACKET, (terms,)
    if stop_comes_first(side, stop, executed, terms.liq_price, params.liquidation_buffer):
        return terms, ()
    # Guard (§10): the stop lies beyond the buffered liquidation price. Keep the margin and
    # shrink the quantity until the stop comes first; this lowers the effective leverage.
    wanted = max_qty_with_stop_first(
        side, stop, executed, terms.margin, tiers, params.liquidation_buffer
    )
    shrunk = round_down_to_step(wanted, rules.lot_step)
    refusal = min_notional_refusal(shrunk, price, rules)
    if refusal is not None:
        return Refusal.LIQUIDATION_GUARD, (f"stop beyond the liquidation price and {refusal}",)
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
    return Margin(
        qty, qty * executed / margin, margin, lp, bankruptcy_price(side, qty, executed, margin)
    )


def open_static(
    account: PerpAccount,
    at: datetime,
    side: Side,
    price: float,
    params: StaticPerpParams,
    rules: MarketRules,
    tiers: Sequence[Tier],
) -> tuple[PerpAccount, Bookings]:
    """Open a fixed-leverage position with isolated margin = notional / leverage, as large as
    the NAV allows once the entry's fee and slippage are paid (`max_qty`)."""
    equity = account.nav(price)
    if not equity > 0.0:
        return account, refused(Refusal.NO_EQUITY, f"NAV {equity:.2f} USDT")
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    slippage = params.slippage_bps / 10_000.0
    executed = fill_price(price, side is Side.LONG, slippage)
    qty = round_down_to_step(
        max_qty(equity, price, side, params.leverage, fee, slippage), rules.lot_step
    )
    refusal = min_notional_refusal(qty, price, rules)
    if refusal is not None:
        return account, refused(Refusal.MIN_NOTIONAL, refusal)
    terms = isolated_terms(side, qty, executed, params.leverage, tiers)
    if isinstance(terms, str):
        return account, refused(Refusal.LEVERAGE_BRACKET, terms)
    entry = Entry(
        side, qty, price, fee, slippage, terms.leverage, terms.margin, terms.liq_price or 0.0,
        terms.bankruptcy, liquidation_fee=rules.liquidation_fee,
    )  # fmt: skip
    return open_position(account, at, entry)


def can_open(
    nav: float,
    price: float,
    params: PerpParams | StaticPerpParams | SpotParams,
    rules: MarketRules,
) -> bool:
    """Whether a flat account with `nav` (USDT) can still open the smallest order the market
    takes at `price`, at the most leverage its vehicle allows. A flat account has no income, so
    one that cannot is dead (the minimum is a notional, so the price barely matters: only
    through the lot step)."""
    if not nav > 0.0:
        return False
    slippage = params.slippage_bps / 10_000.0
    fee = rules.taker_fee if params.taker_fee is None else params.taker_fee
    if isinstance(params, SpotParams):
        qty = nav / (fill_price(price, True, slippage) * (1.0 + fee))
    else:
        if isinstance(params, StaticPerpParams):
            leverage = params.leverage
        else:
            leverage = params.leverage or params.max_leverage
        qty = max_qty(nav, price, Side.LONG, leverage, fee, slippage)
    return clears_minimum(qty, price, rules)


def clears_minimum(qty: float, price: float, rules: MarketRules) -> bool:
    """Whether `qty` rounded down to the lot step is an order the market takes at `price`
    (`min_notional_refusal` of `round_down_to_step`)."""
    # Rounding down takes one step at most off `qty`: a `qty` that clears the minimum with a
    # step less and room to spare (1e-9, far beyond float noise; qty - step is exact where it
    # cancels, Sterbenz) needs no exact rounding, which builds Decimals. `can_open` runs at
    # every NAV snapshot of a flat account (`AccountRunner.died`).
    lower = qty - max(rules.lot_step, 0.0)
    if lower > 0.0 and lower * price >= rules.min_notional * (1.0 + 1e-9):
        return True
    return min_notional_refusal(round_down_to_step(qty, rules.lot_step), price, rules) is None
