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
never touched (modelled: the wallet does not top the margin up; Binance does not either
without an explicit "add margin", which ltbot never does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.domain.liquidation import Tier, bankruptcy_price, liquidation_price
from bot.domain.perp import PerpPosition, entry_fill, funding_payment, not_beyond_bankruptcy
from bot.domain.perp_account import (
    NOTHING,
    Bookings,
    PerpAccount,
    close_position,
    position_record,
)
from bot.domain.records import FeeRecord
from bot.domain.values import FeeKind, FillReason


def apply_funding(
    account: PerpAccount, at: datetime, rate: float, mark: float, *, tiers: Sequence[Tier]
) -> tuple[PerpAccount, Bookings]:
    """Settle the funding at `at`: payment = side x mark x qty x rate (> 0 is paid, §9), from
    the position's isolated margin; then liquidate at `mark` if it lies at or beyond the new
    liquidation price (never beyond the bankruptcy price).

    Idempotent: a settlement at or before the last one applied is ignored (no record), so
    overlapping polls and restarts never count it twice.
    """
    if account.last_funding_at is not None and at <= account.last_funding_at:
        return account, NOTHING
    account = replace(account, last_funding_at=at)
    pos = account.position
    # A position must be open at the settlement time to pay or receive (§9); spot never does.
    if pos is None or not account.pays_funding or pos.opened_at > at:
        return account, NOTHING
    if not mark > 0.0:
        raise ValueError(f"mark must be > 0, got {mark}")
    payment = funding_payment(pos, mark, rate)
    pos = _with_margin(replace(pos, costs=pos.costs + payment), payment, tiers)
    account = replace(account, position=pos, funding=account.funding + payment)
    booked = Bookings(fees=(FeeRecord(at, FeeKind.FUNDING, payment),))
    if pos.margin is None or pos.liq_price is None:
        return account, booked
    if pos.margin <= 0.0 or (pos.liq_price - mark) * float(pos.side) >= 0.0:
        price = not_beyond_bankruptcy(pos, mark)
        account, closed = close_position(account, at, price, FillReason.LIQUIDATION)
        note = f"liquidated by funding at mark {mark:.8g} (margin {pos.margin:.2f} USDT)"
        return account, booked + closed + Bookings(notes=(note,))
    moved = (position_record(pos, entry_fill(pos)),)
    return account, booked + Bookings(positions=moved)


def _with_margin(pos: PerpPosition, payment: float, tiers: Sequence[Tier]) -> PerpPosition:
    # The isolated margin pays (or receives) the funding; liquidation and bankruptcy prices
    # follow the new margin. Spot-like positions without margin are left as they are.
    if pos.margin is None:
        return pos
    margin = pos.margin - payment
    fill = entry_fill(pos)
    if margin <= 0.0:
        # Bankrupt by funding alone: the liquidation comes at once, at the bankruptcy price.
        bankruptcy = bankruptcy_price(pos.side, pos.qty, fill, margin)
        return replace(pos, margin=margin, liq_price=pos.liq_price or 0.0, bankruptcy=bankruptcy)
    lp = liquidation_price(pos.side, pos.qty, fill, margin, tiers) or 0.0
    return replace(
        pos,
        margin=margin,
        liq_price=lp,
        bankruptcy=bankruptcy_price(pos.side, pos.qty, fill, margin),
    )
