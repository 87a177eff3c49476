"""The account of one perp, perp_static or spot portfolio: cash, realised PnL, fees, funding.

Money is in USDT. Fees are costs when > 0 (funding received is a negative funding fee).

    cash = capital + realised_pnl - trading_fees - slippage - funding
    NAV  = cash + unrealised PnL(mark)

so capital + realised + unrealised - all fees = NAV holds by construction (DESIGN.md).
Realised and unrealised PnL are measured from reference prices (the market price an order was
sent at); the executed prices in fill and position records include the slippage, which is
also booked as a `slippage` fee.

Every transition returns the new account and the `Bookings` it produced (ledger records with
fill-relative fee indices, position upserts, and human-readable notes for the log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.bookings import NOTHING as NOTHING
from bot.domain.bookings import Bookings as Bookings
from bot.domain.bookings import refused as refused
from bot.domain.frozen import evolve
from bot.domain.perp import (
    PerpPosition,
    Trigger,
    check_triggers,
    entry_fill,
    margin_left,
    not_beyond_bankruptcy,
    unrealised_pnl,
)
from bot.domain.price_path import bar_path
from bot.domain.records import (
    FeeRecord,
    FillRecord,
    NavTerms,
    PositionRecord,
)
from bot.domain.sizing import fill_price
from bot.domain.values import FeeKind, FillReason, Side


@dataclass(frozen=True, slots=True)
class PerpAccount:
    """One portfolio's account (one symbol, at most one open position).

    `capital`: starting cash; `realised_pnl`: price PnL of closed positions (reference prices);
    `trading_fees`, `slippage`: costs so far; `funding`: net funding paid (< 0 = received);
    `clearance_fees`: liquidation clearance fees paid (from the liquidated margin);
    `last_funding_at`: the latest settlement applied (later repeats are ignored);
    `opened`: positions opened so far (the next id); `pays_funding`: False for spot.
    """

    symbol: str
    capital: float
    realised_pnl: float = 0.0
    trading_fees: float = 0.0
    slippage: float = 0.0
    funding: float = 0.0
    position: PerpPosition | None = None
    clearance_fees: float = 0.0
    last_funding_at: datetime | None = None
    opened: int = 0
    pays_funding: bool = True

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        symbol: str,
        capital: float,
        realised_pnl: float = 0.0,
        trading_fees: float = 0.0,
        slippage: float = 0.0,
        funding: float = 0.0,
        position: PerpPosition | None = None,
        clearance_fees: float = 0.0,
        last_funding_at: datetime | None = None,
        opened: int = 0,
        pays_funding: bool = True,
    ) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "capital", capital)
        object.__setattr__(self, "realised_pnl", realised_pnl)
        object.__setattr__(self, "trading_fees", trading_fees)
        object.__setattr__(self, "slippage", slippage)
        object.__setattr__(self, "funding", funding)
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "clearance_fees", clearance_fees)
        object.__setattr__(self, "last_funding_at", last_funding_at)
        object.__setattr__(self, "opened", opened)
        object.__setattr__(self, "pays_funding", pays_funding)
        self.__post_init__()

    def __post_init__(self) -> None:
        if not self.capital > 0.0:
            raise ValueError(f"capital must be > 0, got {self.capital}")

    @property
    def fees(self) -> float:
        """All costs booked so far (trading + slippage + net funding + clearance), USDT."""
        return self.trading_fees + self.slippage + self.funding + self.clearance_fees

    @property
    def cash(self) -> float:
        """Wallet balance: capital + realised PnL - fees (USDT)."""
        return self.capital + self.realised_pnl - self.fees

    def unrealised(self, mark: float) -> float:
        """Unrealised PnL of the open position at `mark` (0 when flat)."""
        return 0.0 if self.position is None else unrealised_pnl(self.position, mark)

    def nav(self, mark: float) -> float:
        """NAV = cash + unrealised PnL (USDT)."""
        return self.cash + self.unrealised(mark)


@dataclass(frozen=True, slots=True)
class Entry:
    """A fully sized order to open a position (see `perp_signals` and `spot`).

    `price` is the reference price; `fee`, `slippage` are fractions; `margin` None for spot.
    """

    side: Side
    qty: float
    price: float
    fee: float
    slippage: float
    leverage: float
    margin: float | None = None
    liq_price: float | None = None
    bankruptcy: float | None = None
    stop: float | None = None
    take_profit: float | None = None
    trailing_pct: float | None = None
    stop_trigger: str = "last"
    risk_pct: float | None = None
    intended_risk: float | None = None
    effective_risk: float | None = None
    instrument: str | None = None
    notes: tuple[str, ...] = field(default=())
    liquidation_fee: float = 0.0


def open_position(account: PerpAccount, at: datetime, entry: Entry) -> tuple[PerpAccount, Bookings]:
    """Open a position with a taker market order at `entry.price` moved by the slippage."""
    if account.position is not None:
        raise ValueError("close the open position before opening another")
    if not (entry.qty > 0.0 and entry.price > 0.0):
        raise ValueError(f"entry qty and price must be > 0, got {entry.qty}, {entry.price}")
    instrument = entry.instrument or account.symbol
    executed = fill_price(entry.price, entry.side is Side.LONG, entry.slippage)
    fill, fees, fee, slip = _entry_fill(at, instrument, entry, executed)
    pos = _position(account, at, entry, instrument, fee + slip)
    account = evolve(
        account,
        position=pos,
        opened=account.opened + 1,
        trading_fees=account.trading_fees + fee,
        slippage=account.slippage + slip,
    )
    record = position_record(pos, executed)
    return account, Bookings((fill,), fees, (record,), entry.notes)


def _entry_fill(
    at: datetime, instrument: str, entry: Entry, executed: float
) -> tuple[FillRecord, tuple[FeeRecord, ...], float, float]:
    fee = entry.qty * executed * entry.fee
    slip = entry.qty * entry.price * entry.slippage
    side = "buy" if entry.side is Side.LONG else "sell"
    fill = FillRecord(at, instrument, side, entry.qty, executed, fee, FillReason.ENTRY)
    return fill, trade_fees(at, fee, slip), fee, slip


def trade_fees(at: datetime, fee: float, slip: float) -> tuple[FeeRecord, ...]:
    """The fee records of one fill (the first of its call): trading fee and slippage, if > 0."""
    kinds = ((FeeKind.TRADING, fee), (FeeKind.SLIPPAGE, slip))
    return tuple(
        FeeRecord(at, kind, amount, fill_index=0) for kind, amount in kinds if amount > 0.0
    )


def _position(
    account: PerpAccount, at: datetime, e: Entry, instrument: str, costs: float
) -> PerpPosition:
    return PerpPosition(
        id=str(account.opened + 1),
        symbol=account.symbol,
        instrument=instrument,
        side=e.side,
        qty=e.qty,
        entry=e.price,
        opened_at=at,
        leverage=e.leverage,
        margin=e.margin,
        liq_price=e.liq_price,
        bankruptcy=e.bankruptcy,
        stop=e.stop,
        take_profit=e.take_profit,
        trailing_pct=e.trailing_pct,
        best=e.price,
        stop_trigger=e.stop_trigger,
        fee=e.fee,
        slippage=e.slippage,
        costs=costs,
        risk_pct=e.risk_pct,
        intended_risk=e.intended_risk,
        effective_risk=e.effective_risk,
        initial_margin=e.margin,
        liquidation_fee=e.liquidation_fee,
    )


def position_record(
    pos: PerpPosition,
    entry_fill: float,
    *,
    closed_at: datetime | None = None,
    exit_fill: float | None = None,
    pnl: float | None = None,
    reason: FillReason | None = None,
) -> PositionRecord:
    """The `positions` row of `pos`: executed entry/exit prices, net PnL after all costs."""
    return PositionRecord(
        id=pos.id,
        symbol=pos.instrument,
        side=pos.side.label,
        opened_at=pos.opened_at,
        entry=entry_fill,
        qty=pos.qty,
        stop=pos.stop,
        take_profit=pos.take_profit,
        risk_pct=pos.risk_pct,
        leverage=pos.leverage,
        liq_price=pos.liq_price,
        closed_at=closed_at,
        exit_price=exit_fill,
        pnl=pnl,
        exit_reason=None if reason is None else reason.value,
        intended_risk=pos.intended_risk,
        effective_risk=pos.effective_risk,
        margin=pos.initial_margin,
    )


def close_position(
    account: PerpAccount, at: datetime, price: float, reason: FillReason = FillReason.EXIT
) -> tuple[PerpAccount, Bookings]:
    """Close the open position at reference `price` (a taker order, slippage against us).

    An isolated position that cannot pay for the close (what is left of its margin at the
    executed price, less the exit fee, is below 0) is liquidated at the bankruptcy price
    instead: it never loses more than its margin. A liquidation fills at `price` with no
    trading fee and no slippage and pays the clearance fee from what is left of the margin.
    """
    pos = account.position
    if pos is None:
        return account, NOTHING
    if not price > 0.0:
        raise ValueError(f"exit price must be > 0, got {price}")
    if reason is FillReason.LIQUIDATION:
        return _liquidate(account, pos, at, price)
    executed = fill_price(price, pos.side is Side.SHORT, pos.slippage)
    fee = pos.qty * executed * pos.fee
    if pos.margin is not None and margin_left(pos, executed) - fee < 0.0:
        # The close would take more than the isolated margin: only a liquidation can (the
        # insurance fund takes the rest) [BN-INS]; happens when the last price gaps beyond the
        # bankruptcy price while the mark has not reached the liquidation price.
        return _liquidate(account, pos, at, not_beyond_bankruptcy(pos, executed))
    slip = pos.qty * price * pos.slippage
    return _closed(account, pos, at, _Exit(price, executed, fee, slip, 0.0, reason))


@dataclass(frozen=True, slots=True)
class _Exit:
    price: float  # reference
    executed: float
    fee: float
    slip: float
    clearance: float
    reason: FillReason


def _liquidate(
    account: PerpAccount, pos: PerpPosition, at: datetime, price: float
) -> tuple[PerpAccount, Bookings]:
    # Binance charges a liquidation (insurance clearance) fee on the liquidated notional from
    # the margin left, at the symbol's `liquidationFee` rate of exchangeInfo [BN-INS]; what
    # the margin cannot pay is not charged. The base (notional at the fill) is UNCONFIRMED.
    left = 0.0 if pos.margin is None else max(0.0, margin_left(pos, price))
    clearance = min(left, pos.liquidation_fee * pos.qty * price)
    return _closed(
        account, pos, at, _Exit(price, price, 0.0, 0.0, clearance, FillReason.LIQUIDATION)
    )


def _closed(
    account: PerpAccount, pos: PerpPosition, at: datetime, x: _Exit
) -> tuple[PerpAccount, Bookings]:
    gross = unrealised_pnl(pos, x.price)
    side = "sell" if pos.side is Side.LONG else "buy"
    fill = FillRecord(at, pos.instrument, side, pos.qty, x.executed, x.fee + x.clearance, x.reason)
    net = gross - pos.costs - x.fee - x.slip - x.clearance
    record = position_record(
        pos, entry_fill(pos), closed_at=at, exit_fill=x.executed, pnl=net, reason=x.reason
    )
    account = evolve(
        account,
        position=None,
        realised_pnl=account.realised_pnl + gross,
        trading_fees=account.trading_fees + x.fee,
        slippage=account.slippage + x.slip,
        clearance_fees=account.clearance_fees + x.clearance,
    )
    fees = trade_fees(at, x.fee, x.slip)
    if x.clearance > 0.0:
        fees += (FeeRecord(at, FeeKind.LIQUIDATION, x.clearance, fill_index=0),)
    return account, Bookings((fill,), fees, (record,))


def on_price(
    account: PerpAccount, at: datetime, last: float, mark: float, *, gap: bool = True
) -> tuple[PerpAccount, Bookings]:
    """React to one price point: liquidation, stop, take-profit, trailing stop.

    `gap`: True for a tick or a bar's open (the price may have jumped there), False for the
    later points of one bar's path (continuous moves; see `bot.domain.price_path`).
    """
    pos = account.position
    if pos is None:
        return account, NOTHING
    if not (last > 0.0 and mark > 0.0):
        raise ValueError(f"prices must be > 0, got last={last} mark={mark}")
    moved, trigger = check_triggers(pos, last, mark, gap=gap)
    if trigger is not None:
        return _triggered(account, at, trigger)
    if moved is pos:
        return account, NOTHING
    account = evolve(account, position=moved)
    if moved.stop != pos.stop:
        return account, Bookings(positions=(position_record(moved, entry_fill(moved)),))
    return account, NOTHING


def on_bar(
    account: PerpAccount, at: datetime, open: float, high: float, low: float, close: float
) -> tuple[PerpAccount, Bookings]:
    """Run `on_price` along one bar's path (open -> nearer extreme -> farther extreme -> close).

    The bar stands for both last and mark prices. Its open is treated as a gap from the
    previous price; the later points are continuous, so a stop between them fills at the stop.
    """
    bookings = NOTHING
    for n, price in enumerate(bar_path(open, high, low, close)):
        if account.position is None:
            break
        account, more = on_price(account, at, price, price, gap=n == 0)
        bookings = bookings + more
    return account, bookings


def _triggered(
    account: PerpAccount, at: datetime, trigger: Trigger
) -> tuple[PerpAccount, Bookings]:
    account, bookings = close_position(account, at, trigger.price, trigger.reason)
    note = f"{trigger.reason.value} at {trigger.price:.8g}"
    return account, bookings + Bookings(notes=(note,))


def nav_terms(account: PerpAccount) -> NavTerms:
    """The price-independent terms of `account`'s NAV snapshots: `nav_terms(account).record(at,
    price)` snapshots it (the mark for perps, the last price for spot)."""
    pos, cash = account.position, account.cash
    if pos is None:
        return NavTerms(cash, cash, 0.0, 0.0, True)
    # Spot: the wallet holds the coins, so the free cash is what the purchase left.
    free = cash - pos.qty * pos.entry if pos.margin is None else cash
    return NavTerms(cash, free, float(pos.side) * pos.qty, pos.entry, False)
