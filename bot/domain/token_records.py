"""What leveraged-token transitions return besides the new state: ledger records and attribution.

Fee records are the holder's share in USDT (amount > 0 = cost). Trading, slippage, management and
funding records describe costs the fund already took out of `nav_per_unit`: they attribute the
holder's loss of value and must not be charged to the holder's cash a second time. Subscription
and redemption fees are paid by the holder on top of (or out of) NAV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain.records import FeeRecord, FillRecord, TokenEventRecord, rebase_fees
from bot.domain.token_spec import spot_price
from bot.domain.values import FeeKind, FillReason

if TYPE_CHECKING:  # the fund module builds these records, so it imports this one
    from bot.domain.leveraged_token import TokenState
    from bot.domain.token_spec import TokenSpec


@dataclass(frozen=True, slots=True)
class StepAttribution:
    """One step of the fund's NAV per unit, split into additive terms (fractions of `nav_before`).

    token_return = market + decay + rebalance_cost + management_fee + funding, where
    market = L·r (target leverage times the underlying return of the step) and
    decay = (λ_start − L)·r, the part due to the real leverage having drifted from the target
    (the path-dependence that compounds into volatility decay). Costs are negative. On a
    wipe-out the move term is -1 and decay absorbs the difference. Reverse splits are excluded:
    they change NAV per unit but not the holder's value.
    """

    at: datetime
    nav_before: float
    underlying_return: float
    market: float
    decay: float
    rebalance_cost: float
    management_fee: float
    funding: float
    token_return: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        at: datetime,
        nav_before: float,
        underlying_return: float,
        market: float,
        decay: float,
        rebalance_cost: float,
        management_fee: float,
        funding: float,
        token_return: float,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "nav_before", nav_before)
        object.__setattr__(self, "underlying_return", underlying_return)
        object.__setattr__(self, "market", market)
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "rebalance_cost", rebalance_cost)
        object.__setattr__(self, "management_fee", management_fee)
        object.__setattr__(self, "funding", funding)
        object.__setattr__(self, "token_return", token_return)


@dataclass(frozen=True, slots=True)
class TokenRecords:
    """Records produced by one transition; `fees[i].fill_index` points into `fills`."""

    fills: tuple[FillRecord, ...] = ()
    fees: tuple[FeeRecord, ...] = ()
    events: tuple[TokenEventRecord, ...] = ()
    steps: tuple[StepAttribution, ...] = ()

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        fills: tuple[FillRecord, ...] = (),
        fees: tuple[FeeRecord, ...] = (),
        events: tuple[TokenEventRecord, ...] = (),
        steps: tuple[StepAttribution, ...] = (),
    ) -> None:
        object.__setattr__(self, "fills", fills)
        object.__setattr__(self, "fees", fees)
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "steps", steps)

    def __add__(self, other: TokenRecords) -> TokenRecords:
        if other is NO_RECORDS or self is NO_RECORDS:  # the sum equals the other operand
            return self if other is NO_RECORDS else other
        base = len(self.fills)
        moved = rebase_fees(other.fees, base)
        return TokenRecords(
            self.fills + other.fills,
            self.fees + moved,
            self.events + other.events,
            self.steps + other.steps,
        )


NO_RECORDS = TokenRecords()


def holder_fee(
    state: TokenState, at: datetime, kind: FeeKind, per_unit: float
) -> tuple[FeeRecord, ...]:
    """Return the holder's share (units x `per_unit` USDT) of a fund cost, if any."""
    if state.units == 0 or per_unit == 0:
        return ()
    return (FeeRecord(at, kind, state.units * per_unit),)


def price_step(
    spec: TokenSpec, at: datetime, before: TokenState, moved: TokenState, after: TokenState
) -> TokenRecords:
    """Attribute a price step: `before` moved to `moved`, then costs to `after`."""
    if before.wiped_out:
        return NO_RECORDS
    n0, r = before.nav, moved.price / before.price - 1
    market = spec.leverage * r
    decay = (moved.nav - n0) / n0 - market
    cost = (after.nav - moved.nav) / n0
    total = (after.nav - n0) / n0
    return TokenRecords(steps=(StepAttribution(at, n0, r, market, decay, cost, 0.0, 0.0, total),))


def carry_step(
    at: datetime, before: TokenState, after: TokenState, *, funding: bool
) -> StepAttribution:
    """Attribute a carry cost (funding if `funding`, else the management fee)."""
    change = (after.nav - before.nav) / before.nav
    fee, paid = (0.0, change) if funding else (change, 0.0)
    return StepAttribution(at, before.nav, 0.0, 0.0, 0.0, 0.0, fee, paid, change)


def spot_fill(
    spec: TokenSpec, state: TokenState, at: datetime, amount: float, *, buy: bool
) -> tuple[float, TokenRecords]:
    """Trade the token on the spot market (issue 16, route "spot"): buy with `amount` USDT, the
    fee included, or sell `amount` units, at `token_spec.spot_price`; the fee is
    `spot_fee_pct` of the notional (USDT, kind trading). Return the change of the holder's
    units and the fill with its fee; the fund itself is not touched."""
    rate = spec.spot_fee_pct or 0.0
    price = spot_price(spec, state.nav, buy)
    units = amount / (price * (1 + rate)) if buy else amount
    fee = units * price * rate
    side, reason = ("buy", FillReason.ENTRY) if buy else ("sell", FillReason.EXIT)
    fill = FillRecord(at, spec.label, side, units, price, fee, reason)
    records = TokenRecords((fill,), (FeeRecord(at, FeeKind.TRADING, fee, fill_index=0),))
    return (units if buy else -units), records
