"""Strategy histories at start-up: the warm-up bars fetched from the exchange, then the bars the
ledger recorded, so the first bar that closes after start can already produce a signal.

A strategy declares how many closed bars it needs (`Strategy.warmup`); a series (symbol and
timeframe) warms up for the largest need among the experiments on it, so they all see the same
history. The warm-up bars are the candles of the series that opened before its start (its first
recorded candle, else the bucket of its first recorded poll, else the bucket of the start time
for a new ledger), as many as the recorded candles fall short of that need. They are recorded
in `candles` like any other (`received_at` NULL, all closing before the first poll), so a
restart finds them and fetches nothing, rebuilding exactly the history of an uninterrupted run,
and a replay of the ledger warms up from them (`bot.adapters.replay.feed`). One request page
per 500 bars per series, outside the per-poll history budget (which paces the polls' catch-up;
this runs once, before the first poll).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loguru import logger

from bot.adapters.sqlite.store import Store
from bot.domain.values import Candle
from bot.engine.bars import bucket_start, timeframe_delta, timeframe_seconds
from bot.engine.engine import Engine
from bot.engine.ports import Feed, FeedError

PAGE = 500  # candles per warm-up request (every supported exchange serves at least 500)


def warm_up_histories(
    store: Store, engine: Engine, feed: Feed, now: datetime, resumed: bool
) -> None:
    """Fill each experiment's strategy history: its series' recorded candles up to the last
    committed step (when `resumed`), after the warm-up bars they fall short by, which are
    fetched and recorded. A new ledger's series start at `now`."""
    need: dict[tuple[str, str], int] = {}
    for slot in engine.experiments:
        key = (slot.symbol, slot.aggregator.timeframe)
        need[key] = max(need.get(key, 0), slot.strategy.warmup)
    histories: dict[tuple[str, str], list[Candle]] = {}
    fetched: list[Candle] = []
    for (symbol, tf), count in need.items():
        recorded = list(store.iter_candles(symbol, tf, end=engine.last_at)) if resumed else []
        start = recorded[0].at if recorded else _series_start(store, feed, symbol, tf, now, resumed)
        bars = warm_up_bars(feed, symbol, tf, start, count - len(recorded))
        fetched += bars
        histories[symbol, tf] = [*bars, *recorded]
    store.record_candles(fetched)
    for slot in engine.experiments:
        engine.replay_history(slot.name, histories[slot.symbol, slot.aggregator.timeframe])


def _series_start(
    store: Store, feed: Feed, symbol: str, timeframe: str, now: datetime, resumed: bool
) -> datetime:
    # A series without a recorded candle started with the symbol's first recorded poll (the
    # feed continues from there, see the daemon's `_resume_cursors`) or starts now.
    first = next(iter(store.iter_ticks([symbol])), None) if resumed else None
    if not resumed:
        feed.start_candles(symbol, timeframe, now)  # the first poll continues from here
    return bucket_start(now if first is None else first.at, timeframe_seconds(timeframe))


def warm_up_bars(
    feed: Feed, symbol: str, timeframe: str, start: datetime, count: int
) -> list[Candle]:
    """The last `count` closed candles of a series opening before `start`, oldest first; fewer
    (with one WARNING) when the exchange has fewer or cannot be asked now."""
    if count <= 0:
        return []
    step = timeframe_delta(timeframe)
    bars: list[Candle] = []
    since = start - step * count
    try:
        while since < start:
            page = [c for c in feed.fetch_ohlcv(symbol, timeframe, since, PAGE) if c.at < start]
            fresh = [c for c in page if not bars or c.at > bars[-1].at]
            if not fresh:
                break
            bars += fresh
            since = bars[-1].at + step
    except FeedError as exc:
        logger.warning(
            "{} {} warm-up: {}; the strategy starts with {} bars", symbol, timeframe, exc, len(bars)
        )
        return _last(bars, count)
    if len(bars) < count:  # a symbol listed recently, or a sim early in its data
        logger.info(
            "{} {} warm-up: the exchange has {} of the {} bars before {}",
            symbol,
            timeframe,
            len(bars),
            count,
            start.isoformat(),
        )
    return _last(bars, count)


def _last(bars: Sequence[Candle], count: int) -> list[Candle]:
    return list(bars[-count:])
