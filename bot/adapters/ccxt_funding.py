"""Which funding settlements have passed and still wait for their settled rate (no I/O).

Exchanges move `nextFundingTime` on as soon as they settle, so when a quote's next funding
time is later than the previous one, the previous one is a settlement whose rate the funding
history should now hold. A rate not published within `grace` is given up (with a warning):
the engine then keeps the predicted rate it already used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from loguru import logger

from bot.domain.values import FundingRate, Quote


class SettlementTracker:
    """Settlements seen to pass, per symbol, until their settled rate is found."""

    def __init__(self, grace: timedelta = timedelta(hours=1)) -> None:
        self.grace = grace
        self._next: dict[str, datetime] = {}
        self._pending: dict[str, set[datetime]] = {}

    def observe(self, quotes: Sequence[Quote]) -> None:
        """Note each quote's next funding time; a later one marks the earlier as settled."""
        for quote in quotes:
            nxt = quote.next_funding_at
            if nxt is None:
                continue
            previous = self._next.get(quote.symbol)
            if previous is not None and nxt > previous:
                self._pending.setdefault(quote.symbol, set()).add(previous)
            self._next[quote.symbol] = nxt

    def waiting(self) -> dict[str, datetime]:
        """Per symbol with pending settlements, the earliest one (fetch the history from it)."""
        return {s: min(p) for s, p in sorted(self._pending.items()) if p}

    def resolve(self, symbol: str, rates: Sequence[FundingRate], at: datetime) -> list[FundingRate]:
        """The rates that settle pending settlements of `symbol`; drop those older than the
        grace period at `at`."""
        pending = self._pending.get(symbol, set())
        found = [r for r in rates if r.at in pending]
        pending.difference_update(r.at for r in found)
        for missing in sorted(t for t in pending if at - t > self.grace):
            logger.warning("{}: no settled funding rate for {} published", symbol, missing)
            pending.discard(missing)
        return found
