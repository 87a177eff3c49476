"""Isolated-margin liquidation of a USDⓈ-M perpetual (MECHANICS.md §9).

Units: prices in USDT per base unit, quantities in base units, notional and margin in USDT,
maintenance margin rates as fractions (0.005 = 0.5 %). `side` is +1 long / -1 short.

Binance, one-way mode, isolated margin [BN-LIQ]:

    MM = notional x MMR(tier) - cum(tier)
    LP = (WB + cum - side x Q x EP) / (Q x MMR - side x Q)      (TMM = UPNL = 0 in isolated mode)

with WB the isolated margin, EP the entry price, Q the quantity. The tier is looked up by the
position's notional (as Binance does; freqtrade's dry-run uses the stake, a known shortcut).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.values import Side


@dataclass(frozen=True, slots=True)
class Tier:
    """One maintenance-margin bracket: notional in [floor, cap) USDT.

    `mmr` is the maintenance margin rate (fraction), `cum` the maintenance amount (USDT) that
    makes MM continuous across brackets, `max_leverage` the highest leverage the bracket allows.
    """

    floor: float
    cap: float
    mmr: float
    cum: float
    max_leverage: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor < self.cap:
            raise ValueError(f"tier floor/cap must satisfy 0 <= floor < cap, got {self}")
        if not 0.0 < self.mmr < 1.0:
            raise ValueError(f"tier mmr must be in (0, 1), got {self.mmr}")
        if self.cum < 0.0 or self.max_leverage < 1.0:
            raise ValueError(f"tier cum must be >= 0 and max_leverage >= 1, got {self}")


def validate_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Return the tiers as a tuple after checking they start at 0 and are contiguous."""
    if not tiers:
        raise ValueError("tiers must not be empty")
    if tiers[0].floor != 0.0:
        raise ValueError(f"first tier must start at notional 0, got {tiers[0].floor}")
    for lower, upper in zip(tiers, tiers[1:], strict=False):
        if upper.floor != lower.cap:
            raise ValueError(f"tiers not contiguous at {lower.cap} / {upper.floor}")
    return tuple(tiers)


def cumulative_amounts(floors: Sequence[float], mmrs: Sequence[float]) -> tuple[float, ...]:
    """Maintenance amounts: cum_n = floor_n x (MMR_n - MMR_{n-1}) + cum_{n-1}, cum_1 = 0."""
    cums = [0.0]
    for n in range(1, len(floors)):
        cums.append(floors[n] * (mmrs[n] - mmrs[n - 1]) + cums[-1])
    return tuple(cums)


def tier_for(tiers: Sequence[Tier], notional: float) -> Tier:
    """The bracket holding `notional` (USDT); beyond the last cap, the last bracket."""
    for tier in tiers:
        if notional < tier.cap:
            return tier
    return tiers[-1]


def liquidation_price(
    side: Side, qty: float, entry: float, margin: float, tiers: Sequence[Tier]
) -> float | None:
    """The isolated liquidation price (USDT), or None when the formula gives no positive price.

    A long whose margin covers its whole notional (1x or less) has LP <= 0: None (no price
    liquidates it). The margin may be <= 0 (funding paid out of it while the position is in
    profit): the formula holds with that wallet balance, and a short whose LP is then <= 0
    is liquidated at any price (None: callers treat it as 0.0, which every mark is beyond).
    """
    if qty <= 0.0 or entry <= 0.0 or not math.isfinite(margin):
        raise ValueError(f"qty and entry must be > 0, margin finite, got {qty}, {entry}, {margin}")
    tier = tier_for(tiers, qty * entry)
    lp = _lp(side, qty, entry, margin, tier)
    # "If LP lands in another tier, recompute with that tier's MMR/cum" (§9): the notional at
    # the liquidation price decides the bracket. A few passes settle it (brackets are ordered).
    for _ in range(len(tiers)):
        if lp <= 0.0:
            return None
        at_lp = tier_for(tiers, qty * lp)
        if at_lp == tier:
            break
        tier = at_lp
        lp = _lp(side, qty, entry, margin, tier)
    return lp if lp > 0.0 else None


def _lp(side: Side, qty: float, entry: float, margin: float, tier: Tier) -> float:
    s = float(side)
    return (margin + tier.cum - s * qty * entry) / (qty * tier.mmr - s * qty)


def bankruptcy_price(side: Side, qty: float, entry: float, margin: float) -> float:
    """The price at which the isolated margin is exactly used up (USDT; may be <= 0 for longs)."""
    return entry - float(side) * margin / qty


def buffered_liquidation_price(side: Side, entry: float, lp: float, buffer: float) -> float:
    """The liquidation price moved towards the entry by `buffer` x |entry - LP| (freqtrade's
    `liquidation_buffer`, §9): a stop must trigger before this level."""
    return lp + float(side) * abs(entry - lp) * buffer


def stop_comes_first(
    side: Side, stop: float, entry: float, lp: float | None, buffer: float
) -> bool:
    """True when the stop triggers strictly before the buffered liquidation price."""
    if lp is None:
        return True
    return (stop - buffered_liquidation_price(side, entry, lp, buffer)) * float(side) > 0.0


def max_qty_with_stop_first(
    side: Side, stop: float, entry: float, margin: float, tiers: Sequence[Tier], buffer: float
) -> float:
    """The largest quantity whose buffered LP stays beyond `stop`, at a fixed isolated margin.

    Solving LP x (1 - b) + EP x b = stop for Q in the §9 formula gives
    Q = (WB + cum) / (side x (EP - T x (1 - side x MMR))), T = (stop - EP x b) / (1 - b).
    The result is checked against `liquidation_price` (which re-tiers at the LP's notional) and
    bisected down when the bracket changed; callers still round down to the lot step.
    """
    qty = _closed_form_qty(side, stop, entry, margin, tiers, buffer)
    if qty <= 0.0 or _stop_first(side, stop, entry, margin, tiers, buffer, qty):
        return qty
    low, high = 0.0, qty
    for _ in range(100):
        mid = (low + high) / 2.0
        if _stop_first(side, stop, entry, margin, tiers, buffer, mid):
            low = mid
        else:
            high = mid
    return low


def _closed_form_qty(
    side: Side, stop: float, entry: float, margin: float, tiers: Sequence[Tier], buffer: float
) -> float:
    s = float(side)
    target = (stop - entry * buffer) / (1.0 - buffer)
    qty = 0.0
    # The bracket depends on the answer's notional: walk up until it is consistent.
    for tier in tiers:
        denominator = s * (entry - target * (1.0 - s * tier.mmr))
        if denominator <= 0.0:
            return 0.0
        qty = (margin + tier.cum) / denominator
        if qty * entry < tier.cap:
            break
    # Shave a relative 1e-12 so the strict bound is met despite rounding.
    return qty * (1.0 - 1e-12)


def _stop_first(
    side: Side,
    stop: float,
    entry: float,
    margin: float,
    tiers: Sequence[Tier],
    buffer: float,
    qty: float,
) -> bool:
    if qty <= 0.0:
        return True
    lp = liquidation_price(side, qty, entry, margin, tiers)
    return stop_comes_first(side, stop, entry, lp, buffer)
