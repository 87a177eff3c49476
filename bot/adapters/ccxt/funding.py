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
    """Settlements seen to pass, per symbol, until their settled rates are found.

    A pending window [previous next time, new next time) holds every settlement that passed,
    so a long gap (the daemon was down, or polls failed) fetches all of them, not only the last.
    """

    def __init__(self, grace: timedelta = timedelta(hours=1)) -> None:
        self.grace = grace
        self._next: dict[str, datetime] = {}
        self._pending: dict[str, list[tuple[datetime, datetime]]] = {}

    def resume(self, symbol: str, next_funding_at: datetime) -> None:
        """Start from a next funding time known before a restart (the last recorded quote's)."""
        self._next.setdefault(symbol, next_funding_at)

    def observe(self, quotes: Sequence[Quote]) -> None:
        """Note each quote's next funding time; a later one marks the window since the earlier
        one as settled."""
        for quote in quotes:
            nxt = quote.next_funding_at
            if nxt is None:
                continue
            previous = self._next.get(quote.symbol)
            if previous is not None and nxt > previous:
                self._pending.setdefault(quote.symbol, []).append((previous, nxt))
            self._next[quote.symbol] = nxt

    def waiting(self) -> dict[str, datetime]:
        """Per symbol with pending settlements, the earliest one (fetch the history from it)."""
        return {s: min(w[0] for w in p) for s, p in sorted(self._pending.items()) if p}

    def resolve(self, symbol: str, rates: Sequence[FundingRate], at: datetime) -> list[FundingRate]:
        """The rates that settle pending windows of `symbol`; a window is done once its first
        settlement's rate is published; windows older than the grace period are dropped."""
        windows = self._pending.get(symbol, [])
        found = [r for r in rates if any(lo <= r.at < hi for lo, hi in windows)]
        published = {r.at for r in found}
        left = []
        for lo, hi in windows:
            if lo in published:
                continue
            if at - lo > self.grace:
                logger.warning("{}: no settled funding rate for {} published", symbol, lo)
                continue
            left.append((lo, hi))
        self._pending[symbol] = left
        return found
