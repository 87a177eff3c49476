"""Ports: what the engine and the daemon need from a clock and a market-data feed.

`CcxtFeed` (live, through ccxt) and `ReplayFeed` (a data directory or a recorded database) both
satisfy `Feed`; tests can pass any object with the same shape. Nothing here says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain.values import Candle, FundingRate, Quote


class Clock(Protocol):
    """A source of "now" (UTC-aware) that can also wait."""

    def now(self) -> datetime:
        """The current time of this clock (UTC-aware)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock (a fake or replay clock just advances)."""
        ...


class FeedError(RuntimeError):
    """A poll could not be completed (after retries); the caller skips this poll and goes on."""


@dataclass(slots=True)
class MarketUpdate:
    """Everything new from the market at step time `at` (UTC).

    quotes: at most one per symbol, not yet validated; `Quote.at` is the exchange's timestamp
        for the price (falling back to `at` when the exchange gives none).
    candles: newly closed candles, any (symbol, timeframe), in time order per series; a candle's
        `at` is its open time, so it closed at `at + timeframe`.
    funding: newly settled funding rates (`FundingRate.at` = settlement time, on the hour).
    """

    at: datetime
    quotes: Sequence[Quote] = field(default_factory=tuple)
    candles: Sequence[Candle] = field(default_factory=tuple)
    funding: Sequence[FundingRate] = field(default_factory=tuple)


class Feed(Protocol):
    """A source of market updates: live (ccxt), replayed, or fake."""

    def poll(self, at: datetime) -> MarketUpdate:
        """Everything new up to step time `at`; raises FeedError when the poll must be skipped."""
        ...

    def close(self) -> None:
        """Release connections and files (idempotent)."""
        ...
