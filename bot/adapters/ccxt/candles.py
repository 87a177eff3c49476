"""Closed candles for each poll: a cursor per (symbol, timeframe) series and the fetch queue.

The cursor of a series is the open time of the next candle it wants. Each poll fetches the
series that can have a newly closed candle, a symbol's due series together, within the poll's
`HistoryBudget`; what does not fit waits for the next poll, in a deterministic order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from loguru import logger

from bot.adapters.ccxt.budget import HistoryBudget
from bot.adapters.ccxt.exchange import POLL_ERRORS
from bot.domain.values import Candle
from bot.engine.bars import bucket_start, timeframe_seconds

OHLCV_PAGE = 500  # candles per klines request
MAX_PAGES_PER_POLL = 4  # a long outage is caught up over several polls, not in one burst

# symbol, timeframe, since, limit -> candles opening at or after since (raises on failure)
PageFetch = Callable[[str, str, datetime, int], list[Candle]]
# runs a fetch; a failure is reported and gives no candles (they come on a later poll)
Guard = Callable[[Callable[[], list[Candle]], str], list[Candle]]


class CandleCursors:
    """Where each series continues, and which candles a poll fetches (see `new_candles`).

    warmup_bars: closed candles fetched for a series first seen by a poll (0 = only candles
    closing after it); `last_poll`: the time of the previous poll that gave quotes.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        timeframes: Sequence[str],
        warmup_bars: int,
        fetch_page: PageFetch,
        guarded: Guard,
    ) -> None:
        self.symbols = list(symbols)
        self.timeframes = list(timeframes)
        self.warmup_bars = warmup_bars
        self._fetch_page = fetch_page
        self._guarded = guarded
        self._cursor: dict[tuple[str, str], datetime] = {}  # next candle open time wanted
        self.last_poll: datetime | None = None

    def resume(self, symbol: str, timeframe: str, last_open: datetime) -> None:
        """Continue after the candle that opened at `last_open`."""
        seconds = timeframe_seconds(timeframe)
        self._cursor[symbol, timeframe] = last_open + timedelta(seconds=seconds)

    def start(self, symbol: str, timeframe: str, first_poll: datetime) -> None:
        """Start a series as a poll at `first_poll` would have."""
        self._cursor[symbol, timeframe] = self._first_cursor(first_poll, timeframe)

    def _first_cursor(self, at: datetime, timeframe: str) -> datetime:
        seconds = timeframe_seconds(timeframe)
        return bucket_start(at, seconds) - self.warmup_bars * timedelta(seconds=seconds)

    def new_candles(self, at: datetime, ref: datetime, budget: HistoryBudget) -> list[Candle]:
        """The closed candles (by the exchange's time `ref`) this poll at `at` fetches, a
        symbol's due series together (a strategy whose timeframe is coarser than another
        series of its symbol takes its bars from the finer candles when its own are missing,
        so they must arrive in the same step):

        - symbols with candles never seen as quotes (start-up warm-up, catch-up after
          downtime): all of them, outside the budget;
        - then the other symbols with due series, oldest close first, then in `symbols` order,
          while their series fit in what is left of the budget (a symbol with more timeframes
          than the whole budget goes alone, first in a poll).
        """
        out: list[Candle] = []
        queued = []
        for symbol, timeframes in self._due(at, ref):
            if any(self._unseen(tf, ref) for tf in timeframes):
                out += self._guarded(functools.partial(self._symbol, symbol, ref, None), "candles")
            else:
                queued.append((symbol, timeframes))
        first = True
        for symbol, timeframes in queued:
            # A symbol with more series than the whole budget goes alone, first in a poll.
            alone = first and not budget.fits_budget(len(timeframes))
            if not (alone or budget.fits(len(timeframes))):
                break  # the rest waits for the next poll, in this order
            first = False
            budget.reserve(len(timeframes))  # the first page of each series
            fetch = functools.partial(self._symbol, symbol, ref, budget)
            out += self._guarded(fetch, "candles")
        return out

    def _due(self, at: datetime, ref: datetime) -> list[tuple[str, list[str]]]:
        # Symbols with a series whose next candle has closed by `ref`, with those series:
        # oldest close first, then in `symbols` order.
        due: list[tuple[datetime, int, str, list[str]]] = []
        for i, symbol in enumerate(self.symbols):
            mine: list[str] = []
            oldest: datetime | None = None
            for timeframe in self.timeframes:
                key = (symbol, timeframe)
                if key not in self._cursor:
                    self._cursor[key] = self._first_cursor(at, timeframe)
                close = self._cursor[key] + timedelta(seconds=timeframe_seconds(timeframe))
                if close <= ref:
                    mine.append(timeframe)
                    oldest = close if oldest is None else min(oldest, close)
            if oldest is not None:
                due.append((oldest, i, symbol, mine))
        return [(d[2], d[3]) for d in sorted(due, key=lambda d: (d[0], d[1]))]

    def _symbol(self, symbol: str, ref: datetime, budget: HistoryBudget | None) -> list[Candle]:
        # Every due series of one symbol, or none: when one fails, the others' cursors go back
        # and their candles come again with the failed ones on a later poll.
        before = {tf: self._cursor[symbol, tf] for tf in self.timeframes}
        out: list[Candle] = []
        try:
            for timeframe in self.timeframes:
                out += self._closed(symbol, timeframe, ref, budget)
        except POLL_ERRORS:
            for tf, cursor in before.items():
                self._cursor[symbol, tf] = cursor
            raise
        return out

    def _unseen(self, timeframe: str, ref: datetime) -> bool:
        # The newest closed candle opened at or after the previous poll (or there is none):
        # its prices were never seen as quotes, and the engine walks them in this step.
        if self.last_poll is None:
            return True
        seconds = timeframe_seconds(timeframe)
        newest_open = bucket_start(ref, seconds) - timedelta(seconds=seconds)
        return newest_open >= self.last_poll

    def _closed(
        self, symbol: str, timeframe: str, ref: datetime, budget: HistoryBudget | None
    ) -> list[Candle]:
        step = timedelta(seconds=timeframe_seconds(timeframe))
        key = (symbol, timeframe)
        cursor = self._cursor[key]
        out: list[Candle] = []
        # A page may be shorter than asked (exchanges cap limits differently): go on while
        # candles keep closing, at most MAX_PAGES_PER_POLL requests per series and poll.
        for _ in range(MAX_PAGES_PER_POLL):
            if cursor + step > ref:
                break  # nothing can have closed since the last fetch: no request
            if budget is not None and cursor != self._cursor[key] and not budget.take():
                break  # a further page, and the budget is spent: it waits for the next poll
            rows = self._fetch_page(symbol, timeframe, cursor, OHLCV_PAGE)
            # The exchange also returns the candle still in progress: keep closed ones only.
            closed = [c for c in rows if c.at >= cursor and c.at + step <= ref]
            if not closed:
                break
            out.extend(closed)
            cursor = closed[-1].at + step
        self._cursor[key] = cursor  # only now: a failed page leaves the cursor where it was
        return out


class DroppedRows:
    """Kline rows with missing or garbage fields are dropped by the parser and fetched again
    with the next poll (the series' cursor stays): one WARNING per streak of pages with
    dropped rows, one INFO when the rows are whole again."""

    def __init__(self) -> None:
        self.active = False

    def note(self, symbol: str, timeframe: str, dropped: int) -> None:
        """Record one page of `symbol`'s `timeframe` klines, `dropped` rows of it dropped."""
        if dropped and not self.active:
            logger.warning(
                "{} {}: {} kline rows with missing fields dropped (logged once per streak)",
                symbol,
                timeframe,
                dropped,
            )
        elif self.active and not dropped:
            logger.info("kline rows whole again")
        self.active = dropped > 0
