"""Market data for study cells: loaded once per process by (path, symbol), sliced per window.

A worker process keeps every series it has loaded (a module-level cache), so the cells of many
tasks on the same symbol read the files once. A window [start, end) gets the updates a replay
over that window would get (`ltbot replay --from start --to end-1day`, which builds its feed
with `ReplayFeed.from_data_dir(start=start, end=end)`): candles opening at or after `start` and
closing by `end`, and no funding settlement in the first update (a replay has no previous
step to settle from). One difference, stated where it applies: the mark/last basis between
coarser mark candles uses the latest mark close before `t` from the whole file, where a replay
looks back one day before its start only; they differ only after a mark gap longer than a day.
For a recorded ltbot database the whole recording is replayed once and sliced by update time.
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.adapters.replay.feather import (
    DataFormatError,
    frame_datetimes,
    merge_frames,
    read_frame,
    scan_data_dir,
)
from bot.adapters.replay.feed import ReplayFeed
from bot.engine.bars import timeframe_seconds
from bot.engine.ports import MarketUpdate

YEAR_SECONDS = 365 * 86_400


@dataclass(frozen=True, slots=True)
class SymbolData:
    """Every update of one symbol, in time order, with their times for bisection."""

    updates: tuple[MarketUpdate, ...]
    times: tuple[datetime, ...]
    mark_closes: frozenset[datetime] = frozenset()  # close times of the finest mark candles

    @property
    def span(self) -> tuple[datetime, datetime]:
        """(first candle open, last update time) in UTC: what windows may cover."""
        first = self.updates[0]
        opened = min((c.at for c in first.candles), default=first.at)
        return opened, self.times[-1]


_CACHE: dict[tuple[str, str], SymbolData] = {}


def symbol_data(path: Path, symbol: str) -> SymbolData:
    """The updates of `symbol` under `path` (a data directory or a recorded database), loaded
    once per process; DataFormatError when there are none."""
    key = (str(path), symbol)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    if not path.exists():
        raise DataFormatError(f"{path}: no such data directory or database")
    # The load builds some 420,000 objects the cyclic collector tracks (records and tuples; 6.7
    # years of 1h) that live as long as the process and form no reference cycles: the
    # collector, run as they pile up, walked them again and again and freed nothing, about a
    # third of the load's time (0.66 -> 0.42 s compiled). It runs again after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        feed = ReplayFeed.open(path, symbols=[symbol])
        try:
            updates = tuple(feed)
        finally:
            feed.close()
    finally:
        if collecting:
            gc.enable()
    if not updates:
        raise DataFormatError(f"{path}: no data for {symbol}")
    data = SymbolData(updates, tuple(u.at for u in updates), _mark_closes(path, symbol))
    _CACHE[key] = data
    return data


Span = tuple[datetime, datetime]


def clear_cache() -> None:
    """Forget every loaded series (the next `symbol_data` reads the files again, as a fresh
    process would: scripts/bench_study.py starts each run this way)."""
    _CACHE.clear()


def preload(path: str, symbols: tuple[str, ...]) -> dict[str, Span] | str:
    """Load every symbol's data into this process's cache (a pool or Dask worker's warm-up) and
    return each symbol's span (`SymbolData.span`), from which the parent checks the study without
    loading the data itself; or the DataFormatError's message, as the parent's own check would
    raise it (a returned message, not a raised error: Dask would log a failed task)."""
    try:
        spans = {symbol: symbol_data(Path(path), symbol).span for symbol in symbols}
    except DataFormatError as exc:
        return str(exc)
    # The data stays for the worker's life: out of the cyclic collector's sight from now on
    # (`gc.freeze`), a collection between tasks walks only what the tasks left behind. What
    # is garbage now is collected first: a frozen object is never collected.
    gc.collect()
    gc.freeze()
    return spans


def window_updates(data: SymbolData, start: datetime, end: datetime) -> list[MarketUpdate]:
    """The updates a replay of [start, end) gets (see the module docstring)."""
    lo = bisect.bisect_right(data.times, start)
    hi = bisect.bisect_right(data.times, end)
    # Every candle of an update at t opened at t - step >= start once t > start (bars are
    # aligned to their timeframe, so a candle closing after start opened at or after it).
    updates = list(data.updates[lo:hi])
    if updates and updates[0].funding:
        first = updates[0]
        updates[0] = MarketUpdate(first.at, first.quotes, first.candles, (), first.mark_bars)
    # A replay's feed knows the mark/last basis only from its first mark close with a candle
    # closing at the same time (bot/adapters/replay/feed.py `_basis`); before it, no mark.
    for i, update in enumerate(updates):
        if update.at in data.mark_closes:
            break
        if any(q.mark is not None for q in update.quotes):
            quotes = tuple(dataclasses.replace(q, mark=None) for q in update.quotes)
            updates[i] = dataclasses.replace(update, quotes=quotes)
    return updates


def _mark_closes(path: Path, symbol: str) -> frozenset[datetime]:
    # The finest mark timeframe, as the replay feed picks it (`_finest`).
    if not path.is_dir():
        return frozenset()
    files = [f for f in scan_data_dir(path) if f.symbol == symbol and f.candle_type == "mark"]
    if not files:
        return frozenset()
    seconds = min(timeframe_seconds(f.timeframe) for f in files)
    frame = merge_frames(
        *(read_frame(f.path) for f in files if timeframe_seconds(f.timeframe) == seconds)
    )
    step = timedelta(seconds=seconds)
    return frozenset(opened + step for opened in frame_datetimes(frame))


@dataclass(frozen=True, slots=True)
class Regime:
    """What the market did in a window: `trend_efficiency` = |net log move| / sum of |log
    moves| between bar closes (1 = a straight line, near 0 = chop); `realised_vol` the
    annualised volatility of bar log returns (sqrt(sum r^2 x year / window)); `funding_mean`
    the mean settled funding rate per settlement (a fraction; > 0: longs pay)."""

    underlying_return: float
    trend_efficiency: float
    realised_vol: float
    funding_mean: float | None


def measure_regime(
    updates: list[MarketUpdate], symbol: str, start: datetime, end: datetime
) -> Regime:
    """The regime of a window from its updates' candles and settled funding."""
    closes = [c.close for u in updates for c in u.candles if c.symbol == symbol]
    opens = [c.open for u in updates for c in u.candles if c.symbol == symbol]
    if not closes:
        return Regime(0.0, 0.0, 0.0, None)
    path = [opens[0], *closes]
    moves = [math.log(b / a) for a, b in zip(path, path[1:], strict=False) if a > 0 and b > 0]
    net = math.log(path[-1] / path[0]) if path[0] > 0 and path[-1] > 0 else 0.0
    length = sum(abs(m) for m in moves)
    seconds = (end - start).total_seconds()
    vol = math.sqrt(sum(m * m for m in moves) * YEAR_SECONDS / seconds) if seconds > 0 else 0.0
    rates = [f.rate for u in updates for f in u.funding if f.symbol == symbol]
    return Regime(
        underlying_return=path[-1] / path[0] - 1 if path[0] > 0 else 0.0,
        trend_efficiency=abs(net) / length if length > 0 else 0.0,
        realised_vol=vol,
        funding_mean=sum(rates) / len(rates) if rates else None,
    )
