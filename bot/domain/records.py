"""Ledger records the domain returns; the engine stamps a portfolio id and the store writes them.

Money is in the quote currency (USDT). A fee `amount` > 0 is a cost to the portfolio, < 0 an
income (for example funding received). Quantities are base units (for tokens: token units).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.domain.frozen import evolve
from bot.domain.values import FeeKind, FillReason, Refusal, TokenEventKind


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A trade of the portfolio: `side` is "buy" or "sell"; `fee` is the trading fee paid."""

    at: datetime
    instrument: str
    side: str
    qty: float
    price: float
    fee: float
    reason: FillReason


@dataclass(frozen=True, slots=True)
class FeeRecord:
    """A cost (> 0) or income (< 0) booked to the portfolio.

    `fill_index` points into the FillRecord list returned by the same call, when the fee belongs
    to a fill; the store turns it into a `fill_id`.
    """

    at: datetime
    kind: FeeKind
    amount: float
    fill_index: int | None = None

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self, at: datetime, kind: FeeKind, amount: float, fill_index: int | None = None
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "fill_index", fill_index)


def rebase_fees(fees: tuple[FeeRecord, ...] | list[FeeRecord], base: int) -> tuple[FeeRecord, ...]:
    """Fees whose `fill_index` now points `base` fills further on (after concatenating fills)."""
    if base == 0:
        return tuple(fees)
    return tuple(
        f if f.fill_index is None else FeeRecord(f.at, f.kind, f.amount, base + f.fill_index)
        for f in fees
    )


@dataclass(frozen=True, slots=True)
class TokenEventRecord:
    """A leveraged-token fund event: a rebalance, a reverse split, or a blocked request."""

    at: datetime
    kind: TokenEventKind
    leverage_before: float
    leverage_after: float
    nav_per_unit: float
    notional_traded: float


class NavRecord(NamedTuple):
    """A portfolio snapshot: `nav` = cash + unrealised value (USDT); `exposure` is the signed
    notional of the risk position (USDT, short < 0); `leverage` = exposure / nav; `price` is the
    underlying price used for marking.

    A named tuple, not a frozen dataclass like the other records: every portfolio makes one per
    step at least hourly (7 per bar in a study), and a tuple is built about 3x faster."""

    at: datetime
    nav: float
    cash: float
    exposure: float
    leverage: float
    price: float


@dataclass(frozen=True, slots=True)
class NavTerms:
    """The terms of an account's NAV snapshots that do not depend on the price (USDT; `size` =
    side x qty; `free_cash` excludes a spot purchase; `flat`: no position): a runner keeps them
    until its account changes (`perp_account.nav_terms`)."""

    cash: float
    free_cash: float
    size: float
    entry: float
    flat: bool

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self, cash: float, free_cash: float, size: float, entry: float, flat: bool
    ) -> None:
        object.__setattr__(self, "cash", cash)
        object.__setattr__(self, "free_cash", free_cash)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "flat", flat)

    def record(self, at: datetime, price: float) -> NavRecord:
        """Snapshot at `price`: NAV = cash + size x (price - entry), exposure = size x price
        (`PerpAccount.nav` and `perp.notional`, the same float operations in the same order)."""
        nav = self.cash + (0.0 if self.flat else self.size * (price - self.entry))
        exposure = 0.0 if self.flat else self.size * price
        leverage = exposure / nav if nav > 0.0 else 0.0
        return NavRecord(at, nav, self.free_cash, exposure, leverage, price)


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """One row of `positions`, written when a position opens and again when it changes or closes.

    `id` is unique within the portfolio's ledger and stable across restarts; `side` is "long" or
    "short"; `pnl` is the realised PnL in USDT after fees (None while open); `intended_risk` and
    `effective_risk` are the USDT loss at the stop before and after rounding, caps and fees;
    `margin` is the isolated margin at entry (None for spot); `liq_price` the liquidation
    price at the current margin (it moves with funding; 0.0 when no positive price can
    liquidate the position).
    """

    id: str
    symbol: str
    side: str
    opened_at: datetime
    entry: float
    qty: float
    stop: float | None
    take_profit: float | None
    risk_pct: float | None
    leverage: float
    liq_price: float | None
    closed_at: datetime | None = None
    exit_price: float | None = None
    pnl: float | None = None
    exit_reason: str | None = None
    intended_risk: float | None = None
    effective_risk: float | None = None
    margin: float | None = None

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        id: str,
        symbol: str,
        side: str,
        opened_at: datetime,
        entry: float,
        qty: float,
        stop: float | None,
        take_profit: float | None,
        risk_pct: float | None,
        leverage: float,
        liq_price: float | None,
        closed_at: datetime | None = None,
        exit_price: float | None = None,
        pnl: float | None = None,
        exit_reason: str | None = None,
        intended_risk: float | None = None,
        effective_risk: float | None = None,
        margin: float | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "opened_at", opened_at)
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "qty", qty)
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "take_profit", take_profit)
        object.__setattr__(self, "risk_pct", risk_pct)
        object.__setattr__(self, "leverage", leverage)
        object.__setattr__(self, "liq_price", liq_price)
        object.__setattr__(self, "closed_at", closed_at)
        object.__setattr__(self, "exit_price", exit_price)
        object.__setattr__(self, "pnl", pnl)
        object.__setattr__(self, "exit_reason", exit_reason)
        object.__setattr__(self, "intended_risk", intended_risk)
        object.__setattr__(self, "effective_risk", effective_risk)
        object.__setattr__(self, "margin", margin)

    def renamed(self, id: str) -> PositionRecord:
        """Return this row under position id `id`."""
        return evolve(self, id=id)


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    """An entry the portfolio refused at `at`, and why (counted per reason in the ledger)."""

    at: datetime
    reason: Refusal


@dataclass(frozen=True, slots=True)
class DeathRecord:
    """The portfolio died at `at`: its NAV reached 0, or too little is left to ever open the
    smallest order again (`cause` says which, for people)."""

    at: datetime
    cause: str
