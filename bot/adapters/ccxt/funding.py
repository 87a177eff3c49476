"""Funding settlements: which have passed, and fetching their settled rates within a poll.

`SettlementTracker` (no I/O) decides what is pending; `SettledFunding` fetches the settled
rates through the functions the feed gives it, within the poll's `HistoryBudget`.

Exchanges move `nextFundingTime` on as soon as they settle, so when a quote's next funding
time is later than the previous one, the previous one is a settlement whose rate the funding
history should now hold. A rate not published within `grace` is given up (with a warning):
the engine then keeps the predicted rate it already used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from bot.adapters.ccxt.budget import HistoryBudget
from bot.adapters.ccxt.exchange import POLL_ERRORS
from bot.adapters.ccxt.parse import build_funding, build_funding_caps, from_ms
from bot.domain.values import FundingRate, Quote

FUNDING_GRACE = timedelta(hours=1)  # give up on a settled rate not published by then
FUNDING_PAGE = 1000  # rows per multi-symbol funding-history request (Binance's maximum)
# Exchanges whose funding history answers for every symbol at once when none is named.
ALL_SYMBOL_FUNDING_HISTORY = ("binanceusdm",)

# symbol, since, limit -> settled rates of one symbol (raises on failure)
SymbolHistory = Callable[[str, datetime, int], list[FundingRate]]
# since, limit -> raw ccxt rows of every symbol (raises on failure)
AllHistory = Callable[[datetime, int], list[Any]]
# runs a fetch; a failure is reported and gives no rates (they come on a later poll)
Guard = Callable[[Callable[[], list[FundingRate]], str], list[FundingRate]]


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


class SettledFunding:
    """The settled rates of the settlements seen to pass, fetched once they are due.

    binanceusdm: one request for every symbol; otherwise one request per symbol, earliest
    settlement first, then symbol order, while the poll's budget lasts.
    """

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        symbol_history: SymbolHistory,
        all_history: AllHistory,
        guarded: Guard,
    ) -> None:
        self.exchange_id = exchange_id
        self.symbols = list(symbols)
        self.settlements = SettlementTracker(FUNDING_GRACE)
        self._symbol_history = symbol_history
        self._all_history = all_history
        self._guarded = guarded

    def fetch(self, ref: datetime, budget: HistoryBudget) -> list[FundingRate]:
        """Settled rates of pending settlements up to the exchange time `ref`, by (time,
        symbol); fetched before any candle (a rate fetched in the step of its settlement
        replaces the predicted one there; a later one only goes to the ledger)."""
        waiting = self.settlements.waiting()
        if not waiting:
            return []
        out: list[FundingRate] = []
        if self.exchange_id in ALL_SYMBOL_FUNDING_HISTORY:
            fetch = functools.partial(self._settled_all, waiting, ref, budget)
            out.extend(self._guarded(fetch, "funding history"))
        else:
            order = {s: i for i, s in enumerate(self.symbols)}
            for symbol, earliest in sorted(waiting.items(), key=lambda w: (w[1], order[w[0]])):
                if not budget.take():
                    break
                fetch = functools.partial(self._settled, symbol, earliest, ref)
                out.extend(self._guarded(fetch, "funding history"))
        return sorted(out, key=lambda r: (r.at, r.symbol))

    def _settled(self, symbol: str, earliest: datetime, ref: datetime) -> list[FundingRate]:
        # 100 rows cover 33 days of 8-hourly settlements after the earliest pending one.
        rates = self._symbol_history(symbol, earliest - timedelta(minutes=1), 100)
        return self.settlements.resolve(symbol, rates, ref)

    def _settled_all(
        self, waiting: Mapping[str, datetime], ref: datetime, budget: HistoryBudget
    ) -> list[FundingRate]:
        # The history of every symbol from the earliest pending settlement on, ascending;
        # a full page is continued from its last time (rows there may have been cut).
        since = min(waiting.values()) - timedelta(minutes=1)
        by_symbol: dict[str, dict[datetime, FundingRate]] = {s: {} for s in waiting}
        while budget.take():
            rows = self._all_history(since, FUNDING_PAGE)
            for symbol, mine in _rows_by_symbol(rows, by_symbol).items():
                by_symbol[symbol].update((r.at, r) for r in build_funding(symbol, mine))
            stamps = [t for t in (_row_ms(r) for r in rows) if t is not None]
            if len(rows) < FUNDING_PAGE or not stamps or from_ms(max(stamps)) <= since:
                break
            since = from_ms(max(stamps))
        out: list[FundingRate] = []
        for symbol in waiting:
            rates = sorted(by_symbol[symbol].values(), key=lambda r: r.at)
            out.extend(self.settlements.resolve(symbol, rates, ref))
        return out


def _row_ms(row: Any) -> int | None:
    stamp = row.get("timestamp") if isinstance(row, Mapping) else None
    return int(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None


def _rows_by_symbol(rows: list[Any], wanted: Mapping[str, object]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for row in rows:
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        if symbol in wanted:
            out.setdefault(str(symbol), []).append(row)
    return out


def funding_caps(
    exchange: Any,
    exchange_id: str,
    symbols: Sequence[str],
    call: Callable[[Callable[[], Any], str], Any],
) -> dict[str, float]:
    """The funding-rate cap of each of `symbols` that Binance lists in `GET
    /fapi/v1/fundingInfo` (MECHANICS §9: the symbols with adjusted caps or intervals), through
    `call` (the feed's retried request); {} for other exchanges, and, with one WARNING, when it
    cannot be had: the default cap of `bot.engine.funding_screen` applies."""
    if exchange_id != "binanceusdm":
        return {}
    try:
        ids = {str(exchange.market(s)["id"]): s for s in symbols}
        rows = call(exchange.fapiPublicGetFundingInfo, "fundingInfo")
    except POLL_ERRORS as exc:
        logger.warning("funding caps unavailable ({}); the default cap applies", exc)
        return {}
    return build_funding_caps(rows, ids)
