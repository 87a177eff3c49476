"""Funding of an isolated perpetual position, settled against the position's own margin.

Units: USDT; `rate` a fraction per funding interval; `payment` > 0 is paid by the holder.

Binance USDⓈ-M settles the funding fee of an isolated position against that position's
isolated wallet: "When FUNDING FEE occurs in an isolated position, ACCOUNT_UPDATE will be
pushed with only the balance B [...] and the relative position message P (including the
isolated position on which the FUNDING FEE occurs only)", whose `iw` field is the isolated
wallet (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/
Event-Balance-and-Position-Update). So the margin shrinks by what is paid and grows by what is
received, and the liquidation price (MECHANICS §9, WB = that margin) moves with it: funding
alone can liquidate a position, as it does on the exchange. The wallet outside the position is
never touched, except by the liquidation guard below.

The liquidation guard of §10 holds after a settlement too: when funding has moved the
liquidation price past a position's stop (buffered as at entry), a stop-out would no longer
lose `risk_pct`: the liquidation would come first and take the margin. The position is then
reduced at the mark (a reduce-only taker market order) to the largest lot multiple whose
liquidation price lies beyond the stop again. The reduced part's PnL and fee settle against
the isolated margin, and the margin it frees stays with the position (the bot adds it straight
back with isolated mode's "Adjust Margin"), so the margin per unit left rises and the
liquidation price moves away; the position still never loses more than its initial margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.frozen import evolve
from bot.domain.liquidation import (
    Tier,
    bankruptcy_price,
    liquidation_price,
    stop_comes_first,
)
from bot.domain.perp import PerpPosition, entry_fill, funding_payment, not_beyond_bankruptcy
from bot.domain.perp_account import (
    NOTHING,
    Bookings,
    PerpAccount,
    close_position,
    position_record,
    trade_fees,
)
from bot.domain.records import FeeRecord, FillRecord
from bot.domain.sizing import MarketRules, fill_price, min_notional_refusal, round_down_to_step
from bot.domain.values import FeeKind, FillReason, Side


@dataclass(frozen=True, slots=True)
class FundingGuard:
    """The liquidation guard after a settlement: the vehicle's `buffer` (fraction of
    |entry - LP|, as at entry) and the market's `rules` (lot step, minimum notional)."""

    buffer: float
    rules: MarketRules


def apply_funding(
    account: PerpAccount,
    at: datetime,
    rate: float,
    mark: float,
    *,
    tiers: Sequence[Tier],
    guard: FundingGuard | None = None,
) -> tuple[PerpAccount, Bookings]:
    """Settle the funding at `at`: payment = side x mark x qty x rate (> 0 is paid, §9), from
    the position's isolated margin; then liquidate at `mark` if it lies at or beyond the new
    liquidation price (never beyond the bankruptcy price).

    Idempotent: a settlement at or before the last one applied is ignored (no record), so
    overlapping polls and restarts never count it twice.
    """
    if account.last_funding_at is not None and at <= account.last_funding_at:
        return account, NOTHING
    pos = account.position
    # A position must be open at the settlement time to pay or receive (§9); spot never does.
    if pos is None or not account.pays_funding or pos.opened_at > at:
        return evolve(account, last_funding_at=at), NOTHING
    if not mark > 0.0:
        raise ValueError(f"mark must be > 0, got {mark}")
    payment = funding_payment(pos, mark, rate)
    pos = _with_margin(pos, payment, tiers)
    funding = account.funding + payment
    account = evolve(account, last_funding_at=at, position=pos, funding=funding)
    fees = (FeeRecord(at, FeeKind.FUNDING, payment),)
    booked = Bookings(fees=fees)
    if pos.margin is None or pos.liq_price is None:
        return account, booked
    if (pos.liq_price - mark) * float(pos.side) >= 0.0:
        price = not_beyond_bankruptcy(pos, mark)
        account, closed = close_position(account, at, price, FillReason.LIQUIDATION)
        note = f"liquidated by funding at mark {mark:.8g} (margin {pos.margin:.2f} USDT)"
        return account, booked + closed + Bookings(notes=(note,))
    lp = pos.liq_price or None  # 0.0: no positive price liquidates it
    stop = pos.stop
    if guard and stop and not stop_comes_first(pos.side, stop, entry_fill(pos), lp, guard.buffer):
        account, shrunk = _shrink(account, at, mark, guard, tiers)
        return account, booked + shrunk
    return account, Bookings(fees=fees, positions=(position_record(pos, entry_fill(pos)),))


def _shrink(
    account: PerpAccount, at: datetime, mark: float, guard: FundingGuard, tiers: Sequence[Tier]
) -> tuple[PerpAccount, Bookings]:
    pos = account.position
    assert pos is not None and pos.margin is not None and pos.stop is not None
    fill, stop, margin, side, qty = entry_fill(pos), pos.stop, pos.margin, pos.side, pos.qty
    executed = fill_price(mark, side is Side.SHORT, pos.slippage)
    per_unit = float(side) * (executed - fill) - executed * pos.fee  # to the margin

    def stop_first(keep: float) -> bool:
        # Monotone: a smaller position keeps more margin per unit while the margin is above
        # the open loss (it is, short of the liquidation price).
        left = margin + per_unit * (qty - keep)
        if left <= 0.0:
            return False
        lp = liquidation_price(side, keep, fill, left, tiers)
        return stop_comes_first(side, stop, fill, lp, guard.buffer)

    low, high = 0.0, pos.qty
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if stop_first(mid) else (low, mid)
    keep = round_down_to_step(low, guard.rules.lot_step)
    if min_notional_refusal(keep, mark, guard.rules) is not None or not stop_first(keep):
        account, closed = close_position(account, at, mark, FillReason.EXIT)
        note = "closed: funding moved the liquidation price past the stop, and any smaller "
        return account, closed + Bookings(notes=(note + "position is below the minimum",))
    cut = pos.qty - keep
    fee, slip = cut * executed * pos.fee, cut * mark * pos.slippage
    gross = float(pos.side) * cut * (mark - pos.entry)
    # the reduced part's PnL stays the position's (in its costs)
    pos = repriced(pos, keep, margin + per_unit * cut, tiers, costs=pos.costs + fee + slip - gross)
    account = evolve(
        account,
        position=pos,
        realised_pnl=account.realised_pnl + gross,
        trading_fees=account.trading_fees + fee,
        slippage=account.slippage + slip,
    )
    order = "sell" if pos.side is Side.LONG else "buy"
    record = FillRecord(at, pos.instrument, order, cut, executed, fee, FillReason.EXIT)
    fees = trade_fees(at, fee, slip)
    note = f"reduced by {cut:g} to {keep:g}: funding moved the liquidation price past the stop"
    return account, Bookings((record,), fees, (position_record(pos, fill),), (note,))


def _with_margin(pos: PerpPosition, payment: float, tiers: Sequence[Tier]) -> PerpPosition:
    # The position's costs take the payment; its isolated margin pays (or receives) it
    # (spot-like positions without margin have none).
    costs = pos.costs + payment
    if pos.margin is None:
        return evolve(pos, costs=costs)
    return repriced(pos, pos.qty, pos.margin - payment, tiers, costs=costs)


def repriced(
    pos: PerpPosition,
    qty: float,
    margin: float,
    tiers: Sequence[Tier],
    costs: float | None = None,
) -> PerpPosition:
    """`pos` holding `qty` on isolated `margin` (USDT), its liquidation and bankruptcy prices
    recomputed for them (§9), also when the margin is 0 or below while the position is in
    profit (the formula holds with that wallet balance: the mark must still reach the LP);
    `costs` (USDT), when given, replaces the position's costs booked so far.

    No positive LP (None from the formula) is stored as 0.0: a long then cannot be
    liquidated, a short is liquidated at any price (every mark is at or beyond 0.0)."""
    fill = entry_fill(pos)
    return evolve(
        pos,
        qty=qty,
        margin=margin,
        liq_price=liquidation_price(pos.side, qty, fill, margin, tiers) or 0.0,
        bankruptcy=bankruptcy_price(pos.side, qty, fill, margin),
        costs=pos.costs if costs is None else costs,
    )
