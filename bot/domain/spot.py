"""The `spot` vehicle: a 1x spot holding, long only; flat on a short or flat signal.

Units: prices in USDT per base unit, quantities in base units, money in USDT, fees and
slippage as fractions. The holding lives in a `PerpAccount` with `pays_funding=False` and a
position without margin, liquidation price or stop, so NAV and the accounting identity are
shared with the perp vehicles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.perp import parse_number
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
    SPOT_FEE,
    MarketRules,
    fill_price,
    min_notional_refusal,
    round_down_to_step,
    spot_symbol,
)
from bot.domain.values import FillReason, Refusal, Side


def _fraction(name: str, value: Any, upper: float) -> float:
    number = parse_number(name, value)
    if not 0.0 <= number < upper:
        raise ValueError(f"{name} must be in [0, {upper:g}), got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class SpotParams:
    """The `spot` vehicle's parameters.

    taker_fee: fee fraction per market fill (0.001 = 0.1 %, the regular spot rate; this is the
        vehicle's own default and overrides market info).
    slippage_bps: adverse slippage of each market fill, in basis points of the price.
    """

    taker_fee: float = SPOT_FEE
    slippage_bps: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "taker_fee", _fraction("taker_fee", self.taker_fee, 0.1))
        object.__setattr__(
            self, "slippage_bps", _fraction("slippage_bps", self.slippage_bps, 1000.0)
        )


def new_spot_account(symbol: str, capital: float) -> PerpAccount:
    """An empty spot account for a symbol (perpetual or spot spelling; fills use spot's)."""
    return PerpAccount(symbol=symbol, capital=capital, pays_funding=False)


def apply_spot_signal(
    account: PerpAccount,
    at: datetime,
    target: Side | None,
    price: float,
    params: SpotParams,
    rules: MarketRules,
) -> tuple[PerpAccount, Bookings]:
    """Hold the coin on a long signal; sell it on a short or flat one (spot cannot short)."""
    if target is not Side.LONG:
        if account.position is None:
            return account, NOTHING
        return close_position(account, at, price, FillReason.EXIT)
    if account.position is not None:
        return account, NOTHING
    return buy_spot(account, at, price, params, rules)


def buy_spot(
    account: PerpAccount, at: datetime, price: float, params: SpotParams, rules: MarketRules
) -> tuple[PerpAccount, Bookings]:
    """Spend the whole NAV, fee and slippage included, on the coin at reference `price`."""
    equity = account.nav(price)
    slippage = params.slippage_bps / 10_000.0
    executed = fill_price(price, True, slippage)
    # Cost = qty x executed x (1 + fee) must fit in the cash: no borrowing on spot.
    qty = round_down_to_step(equity / (executed * (1.0 + params.taker_fee)), rules.lot_step)
    if not equity > 0.0:
        return account, refused(Refusal.NO_EQUITY, f"no cash (NAV {equity:.2f} USDT)")
    refusal = min_notional_refusal(qty, price, rules)
    if refusal is not None:
        return account, refused(Refusal.MIN_NOTIONAL, refusal)
    entry = Entry(
        Side.LONG, qty, price, params.taker_fee, slippage, leverage=1.0,
        instrument=spot_symbol(account.symbol),
    )  # fmt: skip
    return open_position(account, at, entry)
