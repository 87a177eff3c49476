"""An isolated-margin USDⓈ-M perpetual position: marking, price triggers, funding (its
parameters: bot/domain/perp_params.py, re-exported here).

Units: prices in USDT per base unit, `qty` in base units (always > 0; direction is `side`),
money (margin, PnL, fees) in USDT, rates and slippage as fractions of the notional.
Sign conventions: PnL > 0 is a gain; a funding `payment` > 0 is a cost to the holder.

Sources cited where applied: [BN-INS] Binance's "Liquidation Protocol" FAQ (copy at
https://docs.traderwagon.com/faq/futures-trading-introduction/liquidation-protocol) and
"Insurance Fund" (https://www.binance.com/en/support/articles/360033525371).

The position's `entry` is the *reference* price (the market price the order was sent at);
slippage is booked separately as a fee, so the accounting identity
capital + realised + unrealised - fees = NAV holds with realised/unrealised PnL measured from
reference prices. Fill records carry the executed price (reference moved by the slippage).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.frozen import evolve
from bot.domain.perp_params import STOP_TRIGGERS as STOP_TRIGGERS
from bot.domain.perp_params import PerpParams as PerpParams
from bot.domain.perp_params import StaticPerpParams as StaticPerpParams
from bot.domain.perp_params import parse_number as parse_number
from bot.domain.price_path import PricePoint
from bot.domain.sizing import fill_price
from bot.domain.values import FillReason, Side


@dataclass(frozen=True, slots=True)
class PerpPosition:
    """An open position (perpetual, or a spot holding when `margin` and `liq_price` are None).

    `entry`: reference entry price; `margin`: the isolated margin balance now (USDT: the
    initial margin, less funding paid, plus funding received); `leverage`: the setting;
    `liq_price`: the mark price that liquidates it at the current margin (0.0 when no positive
    price can, e.g. a 1x long); `bankruptcy`: where the margin is used up; `stop`,
    `take_profit`: trigger prices or None; `trailing_pct`: trailing distance (fraction) or None;
    `best`: the most favourable trigger price seen since entry; `fee`, `slippage`: fractions
    used for the exit; `costs`: fees, slippage and funding booked so far for this position;
    `initial_margin`: the isolated margin at entry; `liquidation_fee`: the clearance fee rate.
    """

    id: str
    symbol: str
    instrument: str
    side: Side
    qty: float
    entry: float
    opened_at: datetime
    leverage: float
    margin: float | None
    liq_price: float | None
    bankruptcy: float | None
    stop: float | None
    take_profit: float | None
    trailing_pct: float | None
    best: float
    stop_trigger: str
    fee: float
    slippage: float
    costs: float = 0.0
    risk_pct: float | None = None
    intended_risk: float | None = None
    effective_risk: float | None = None
    initial_margin: float | None = None
    liquidation_fee: float = 0.0

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        id: str,
        symbol: str,
        instrument: str,
        side: Side,
        qty: float,
        entry: float,
        opened_at: datetime,
        leverage: float,
        margin: float | None,
        liq_price: float | None,
        bankruptcy: float | None,
        stop: float | None,
        take_profit: float | None,
        trailing_pct: float | None,
        best: float,
        stop_trigger: str,
        fee: float,
        slippage: float,
        costs: float = 0.0,
        risk_pct: float | None = None,
        intended_risk: float | None = None,
        effective_risk: float | None = None,
        initial_margin: float | None = None,
        liquidation_fee: float = 0.0,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "instrument", instrument)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "qty", qty)
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "opened_at", opened_at)
        object.__setattr__(self, "leverage", leverage)
        object.__setattr__(self, "margin", margin)
        object.__setattr__(self, "liq_price", liq_price)
        object.__setattr__(self, "bankruptcy", bankruptcy)
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "take_profit", take_profit)
        object.__setattr__(self, "trailing_pct", trailing_pct)
        object.__setattr__(self, "best", best)
        object.__setattr__(self, "stop_trigger", stop_trigger)
        object.__setattr__(self, "fee", fee)
        object.__setattr__(self, "slippage", slippage)
        object.__setattr__(self, "costs", costs)
        object.__setattr__(self, "risk_pct", risk_pct)
        object.__setattr__(self, "intended_risk", intended_risk)
        object.__setattr__(self, "effective_risk", effective_risk)
        object.__setattr__(self, "initial_margin", initial_margin)
        object.__setattr__(self, "liquidation_fee", liquidation_fee)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A price trigger that closes the position at `price` (reference, before slippage)."""

    reason: FillReason
    price: float


def notional(pos: PerpPosition, price: float) -> float:
    """Signed notional (USDT) at `price`: > 0 long, < 0 short."""
    return float(pos.side) * pos.qty * price


def unrealised_pnl(pos: PerpPosition, mark: float) -> float:
    """Price PnL (USDT) from the reference entry to `mark`."""
    return float(pos.side) * pos.qty * (mark - pos.entry)


def entry_fill(pos: PerpPosition) -> float:
    """The executed entry price of `pos` (reference entry moved by the slippage)."""
    return fill_price(pos.entry, pos.side is Side.LONG, pos.slippage)


def margin_left(pos: PerpPosition, price: float) -> float:
    """The isolated margin balance plus the PnL from the executed entry to `price` (USDT): what
    a close at `price` leaves of the margin before exit fees (0 at the bankruptcy price)."""
    assert pos.margin is not None  # isolated positions only
    return pos.margin + float(pos.side) * pos.qty * (price - entry_fill(pos))


def not_beyond_bankruptcy(pos: PerpPosition, price: float) -> float:
    """`price`, or the bankruptcy price when `price` lies beyond it: an isolated position never
    loses more than its margin (the insurance fund takes the rest) [BN-INS]."""
    if pos.bankruptcy is None or (price - pos.bankruptcy) * float(pos.side) >= 0.0:
        return price
    return pos.bankruptcy


def funding_payment(pos: PerpPosition, mark: float, rate: float) -> float:
    """Funding paid (> 0) or received (< 0) in USDT: side x mark x qty x rate (§9).

    A long pays a positive rate; a short receives it.
    """
    return float(pos.side) * mark * pos.qty * rate


def check_triggers(
    pos: PerpPosition, last: float, mark: float, *, gap: bool
) -> tuple[PerpPosition, Trigger | None]:
    """Check liquidation, stop and take-profit at one price point, then move a trailing stop.

    `gap` is True when the price may have jumped here from the previous observation (a new
    tick, or a bar's open); False for the continuous moves between points of one bar's path.
    Liquidation is checked on the mark; stop and take-profit on `pos.stop_trigger`'s price.
    """
    price = mark if pos.stop_trigger == "mark" else last
    trigger = _liquidation(pos, price, mark, gap) or _stop(pos, price, last, gap)
    trigger = trigger or _take_profit(pos, price, last, gap)
    if trigger is not None:
        return pos, trigger
    return _trail(pos, price), None


def trigger_band(pos: PerpPosition) -> tuple[float, float, float, float]:
    """Open bounds (lo, hi) for the trigger price and (lo, hi) for the mark inside which
    `check_triggers` returns no trigger: stop and take-profit bound the trigger price, the
    liquidation price bounds the mark, and both stay above 0 (a price <= 0 is an error there).
    Each bound is one of `check_triggers`' comparisons, negated."""
    lo, hi, mark_lo, mark_hi = 0.0, math.inf, 0.0, math.inf
    if pos.side is Side.LONG:
        lo = max(lo, pos.stop) if pos.stop is not None else lo
        hi = min(hi, pos.take_profit) if pos.take_profit is not None else hi
    else:
        hi = pos.stop if pos.stop is not None else hi
        lo = max(lo, pos.take_profit) if pos.take_profit is not None else lo
    if pos.liq_price is not None and pos.bankruptcy is not None:
        long = pos.side is Side.LONG
        mark_lo, mark_hi = (max(0.0, pos.liq_price), math.inf) if long else (0.0, pos.liq_price)
    return (lo, hi, mark_lo, mark_hi)


def quiet_band(pos: PerpPosition) -> tuple[float, float, float, float]:
    """`trigger_band` narrowed to where `check_triggers` also returns `pos` itself: the best
    price so far (a new best moves `pos`) bounds the trigger price too. A trailing stop that
    would still tighten at the current best leaves no quiet band at all."""
    if pos.trailing_pct is not None and _trail(pos, pos.best) is not pos:
        return (0.0, 0.0, 0.0, 0.0)
    lo, hi, mark_lo, mark_hi = trigger_band(pos)
    # The best price stays unless the price passes it (equal keeps it): an inclusive bound.
    if pos.side is Side.LONG:
        hi = min(math.nextafter(pos.best, math.inf), hi)
    else:
        lo = max(lo, math.nextafter(pos.best, -math.inf))
    return (lo, hi, mark_lo, mark_hi)


def _beyond(pos: PerpPosition, price: float, level: float | None) -> bool:
    # True when `price` is at or past `level` in the losing direction.
    return level is not None and (level - price) * float(pos.side) >= 0.0


def _liquidation(pos: PerpPosition, price: float, mark: float, gap: bool) -> Trigger | None:
    if pos.liq_price is None or pos.bankruptcy is None or not _beyond(pos, mark, pos.liq_price):
        return None
    # On a gap, liquidation is checked before the stop at the same price (DESIGN.md step 4).
    # On a continuous move through both, the price met the stop first when the stop lies
    # inside the liquidation price (the sizing guard makes sure it does).
    stop_first = _beyond(pos, price, pos.stop) and not _beyond(pos, pos.stop or 0.0, pos.liq_price)
    if not gap and stop_first:
        return None
    # The liquidation engine closes the position at the liquidation price when the mark moved
    # there continuously; when the mark gapped through it, at the mark seen, but never beyond
    # the bankruptcy price: the loss stops at the isolated margin and the insurance fund takes
    # the rest ([BN-INS]: "the user's position will be closed at the bankruptcy price and the
    # Insurance Fund will take over the position"). The clearance fee is `close_position`'s.
    fill = mark if gap else pos.liq_price
    return Trigger(FillReason.LIQUIDATION, not_beyond_bankruptcy(pos, fill))


def _stop(pos: PerpPosition, price: float, last: float, gap: bool) -> Trigger | None:
    stop = pos.stop
    if stop is None or not _beyond(pos, price, stop):
        return None
    # A stop-market order: on a continuous path it fills at the stop; when the price gapped
    # through the stop it fills at the market price seen (the bar's open or the tick price).
    return Trigger(FillReason.STOP, last if gap else stop)


def _take_profit(pos: PerpPosition, price: float, last: float, gap: bool) -> Trigger | None:
    tp = pos.take_profit
    if tp is None or (price - tp) * float(pos.side) < 0.0:
        return None
    # A take-profit-market order: it fills at the market price when the price gapped past it.
    return Trigger(FillReason.TAKE_PROFIT, last if gap else tp)


def _trail(pos: PerpPosition, price: float) -> PerpPosition:
    s = float(pos.side)
    best = pos.best if (pos.best - price) * s >= 0.0 else price
    if pos.trailing_pct is None:
        return pos if best == pos.best else evolve(pos, best=best)
    trail = best * (1.0 - s * pos.trailing_pct)
    # A trailing stop only ever tightens: it never moves back towards a larger loss.
    stop = trail if pos.stop is None or (trail - pos.stop) * s > 0.0 else pos.stop
    if best == pos.best and stop == pos.stop:
        return pos
    return evolve(pos, best=best, stop=stop)


def walk_quiet(
    pos: PerpPosition,
    band: tuple[float, float, float, float],
    points: Sequence[PricePoint],
    start: int,
    end: int,
    best: float,
) -> tuple[int, float]:
    """Return the first index in [start, end) where `on_price` may act on the account holding
    `pos` (`end` if none) and the best trigger price after the points before it, from `best`
    (`pos.best`, or where an earlier walk left it). Inside `band` nothing triggers: with
    `quiet_band(pos)` `pos` stays as it is; with `trigger_band(pos)` (a position without
    trailing stop) only its best price moves, as `_trail` moves it.
    """
    lo, hi, mark_lo, mark_hi = band
    by_mark, long = pos.stop_trigger == "mark", pos.side is Side.LONG
    for i in range(start, end):
        _, last, mark, _, _ = points[i]
        price = mark if by_mark else last
        if not (lo < price < hi and mark_lo < mark < mark_hi and last > 0.0):
            return i, best
        # _trail's comparison: (best - price) x side < 0 is a new best.
        if (price > best) if long else (price < best):
            best = price
    return end, best
