"""Plain values shared by the whole domain: sides, ledger kinds, market data.

Units: prices in quote currency (USDT) per base unit; quantities in base units; funding rates
are fractions per funding interval (0.0001 = 0.01 %). All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class Side(IntEnum):
    """Direction of exposure; the integer value is the sign used in formulas."""

    LONG = 1
    SHORT = -1

    @property
    def label(self) -> str:
        return "long" if self is Side.LONG else "short"


class FeeKind(StrEnum):
    """Kinds of the `fees` ledger; amount > 0 is a cost, < 0 an income."""

    TRADING = "trading"
    SLIPPAGE = "slippage"
    SUBSCRIPTION = "subscription"
    REDEMPTION = "redemption"
    MANAGEMENT = "management"
    FUNDING = "funding"
    # Binance's insurance clearance fee of a liquidated position (income type INSURANCE_CLEAR)
    LIQUIDATION = "liquidation"


class Refusal(StrEnum):
    """Why an account refused to open a position (the `entry_refusals.reason` column)."""

    NO_EQUITY = "no_equity"  # NAV (or free cash) <= 0
    MIN_NOTIONAL = "min_notional"  # the size rounds below the market's minimum notional
    LIQUIDATION_GUARD = "liquidation_guard"  # the stop cannot come before the liquidation price
    LEVERAGE_BRACKET = "leverage_bracket"  # the leverage exceeds the bracket's maximum
    BAD_SIGNAL = "bad_signal"  # the signal cannot be acted on (a stop on the wrong side)
    DAILY_CAP = "daily_cap"  # a token subscription or redemption over its daily cap (the rest)


class FillReason(StrEnum):
    """Why a fill happened (the `fills.reason` column)."""

    SUBSCRIBE = "subscribe"
    REDEEM = "redeem"
    ENTRY = "entry"
    EXIT = "exit"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    LIQUIDATION = "liquidation"
    REBALANCE = "rebalance"


class TokenEventKind(StrEnum):
    """Kinds of the `token_events` ledger."""

    REBALANCE = "rebalance"
    REVERSE_SPLIT = "reverse_split"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Quote:
    """One validated market snapshot of a symbol at `at` (our clock, UTC).

    `funding_rate` is the predicted rate for the next settlement at `next_funding_at`.
    Optional fields are None when the exchange did not provide them.
    """

    symbol: str
    at: datetime
    last: float
    mark: float | None = None
    index_price: float | None = None
    bid: float | None = None
    ask: float | None = None
    funding_rate: float | None = None
    next_funding_at: datetime | None = None

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        symbol: str,
        at: datetime,
        last: float,
        mark: float | None = None,
        index_price: float | None = None,
        bid: float | None = None,
        ask: float | None = None,
        funding_rate: float | None = None,
        next_funding_at: datetime | None = None,
    ) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "last", last)
        object.__setattr__(self, "mark", mark)
        object.__setattr__(self, "index_price", index_price)
        object.__setattr__(self, "bid", bid)
        object.__setattr__(self, "ask", ask)
        object.__setattr__(self, "funding_rate", funding_rate)
        object.__setattr__(self, "next_funding_at", next_funding_at)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; `at` is the bar's open time (UTC)."""

    symbol: str
    timeframe: str
    at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        symbol: str,
        timeframe: str,
        at: datetime,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "timeframe", timeframe)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "open", open)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "close", close)
        object.__setattr__(self, "volume", volume)


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A settled funding rate: positive means longs pay shorts, fraction per interval."""

    symbol: str
    at: datetime
    rate: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(self, symbol: str, at: datetime, rate: float) -> None:
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "rate", rate)
