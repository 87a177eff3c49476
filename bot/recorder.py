"""Recorder: accepted market data into the store (`ticks`, `candles`, `funding_rates`).

DESIGN.md step 2: only quotes that passed validation are recorded, so a replay of the database
sees exactly what the live engine saw. Closed candles and settled funding rates are recorded as
they come. The store ignores exact duplicates (same primary key), so re-recording after a
restart is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.values import Candle, FundingRate, Quote
from bot.ports import MarketUpdate
from bot.validation import Rejection, SnapshotValidator


class MarketStore(Protocol):
    """The part of the store the recorder writes to."""

    def record_market(
        self,
        quotes: Sequence[Quote] = (),
        candles: Sequence[Candle] = (),
        funding: Sequence[FundingRate] = (),
    ) -> None:
        """Write market data in one transaction, ignoring exact duplicates."""
        ...


@dataclass(slots=True)
class RecorderStats:
    """Rows handed to the store (duplicates the store ignored included)."""

    ticks: int = 0
    candles: int = 0
    funding_rates: int = 0


class Recorder:
    """Validate each update and record what was accepted, in one transaction per update."""

    def __init__(self, store: MarketStore, validator: SnapshotValidator) -> None:
        self.store = store
        self.validator = validator
        self.stats = RecorderStats()

    def record(self, update: MarketUpdate) -> tuple[list[Quote], list[Rejection]]:
        """Validate `update.quotes` at `update.at`, record accepted quotes plus the update's
        candles and funding; return (accepted, rejected)."""
        accepted, rejected = self.validator.validate(update.quotes, update.at)
        self.record_accepted(accepted, update.candles, update.funding)
        return accepted, rejected

    def record_accepted(
        self,
        quotes: Sequence[Quote],
        candles: Sequence[Candle] = (),
        funding: Sequence[FundingRate] = (),
    ) -> None:
        """Record already validated quotes, closed candles and settled funding rates."""
        if not (quotes or candles or funding):
            return
        self.store.record_market(quotes, candles, funding)
        self.stats.ticks += len(quotes)
        self.stats.candles += len(candles)
        self.stats.funding_rates += len(funding)
