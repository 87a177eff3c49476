"""Ledger records the domain returns; the engine stamps a portfolio id and the store writes them.

Money is in the quote currency (USDT). A fee `amount` > 0 is a cost to the portfolio, < 0 an
income (for example funding received). Quantities are base units (for tokens: token units).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.values import FeeKind, FillReason, TokenEventKind


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


@dataclass(frozen=True, slots=True)
class TokenEventRecord:
    """A leveraged-token fund event: a rebalance, a reverse split, or a blocked request."""

    at: datetime
    kind: TokenEventKind
    leverage_before: float
    leverage_after: float
    nav_per_unit: float
    notional_traded: float
