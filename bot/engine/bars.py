"""Timeframes and bar aggregation: finer candles (or quotes) into a strategy's timeframe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from bot.domain.values import Candle

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Parsed once per timeframe text (pure; every step asks for the same few).
@lru_cache(maxsize=64)
def timeframe_seconds(timeframe: str) -> int:
    """Seconds in a ccxt-style timeframe such as "5m", "1h", "1d"."""
    unit = timeframe[-1:]
    count = timeframe[:-1]
    if unit not in _UNITS or not count.isdigit() or int(count) <= 0:
        raise ValueError(f"unknown timeframe {timeframe!r} (expected e.g. 1m, 5m, 1h, 4h, 1d)")
    return int(count) * _UNITS[unit]


@lru_cache(maxsize=64)
def timeframe_delta(timeframe: str) -> timedelta:
    """The length of one bar of `timeframe`."""
    return timedelta(seconds=timeframe_seconds(timeframe))


def bucket_start(at: datetime, seconds: int) -> datetime:
    """Open time of the bar of length `seconds` that contains `at` (bars aligned to the epoch)."""
    offset = int((at - _EPOCH).total_seconds()) // seconds * seconds
    return _EPOCH + timedelta(seconds=offset)


@dataclass(slots=True)
class _Partial:
    at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    bucket_end: datetime  # close time of the bar being built (at + the bar's length)


class BarAggregator:
    """Folds candles of a finer (or equal) timeframe into closed bars of `timeframe`.

    A bar is emitted when a candle reaching its close time has been folded in, or when a
    candle of a later bucket arrives (a gap in the data closes the bar early: assumption,
    the bar is built from what was seen).
    """

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.seconds = timeframe_seconds(timeframe)
        self._length = timeframe_delta(timeframe)
        self._partial: _Partial | None = None

    def add(self, candle: Candle) -> list[Candle]:
        """Fold one candle in; return the bars it closed (zero, one, or two on a gap)."""
        if candle.timeframe == self.timeframe:
            return [candle]
        closed: list[Candle] = []
        at = candle.at
        end = at + timeframe_delta(candle.timeframe)
        part = self._partial
        # the bucket holding `at` is the partial bar's exactly when at lies in [its open, close)
        if part is not None and not part.at <= at < part.bucket_end:
            closed.append(self._emit(part))
            part = None
        if part is None:
            start = bucket_start(at, self.seconds)
            part = _Partial(
                start,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume,
                start + self._length,
            )
        else:
            part.high = max(part.high, candle.high)
            part.low = min(part.low, candle.low)
            part.close = candle.close
            part.volume += candle.volume
        self._partial = part
        if end >= part.bucket_end:
            closed.append(self._emit(part))
            self._partial = None
        return closed

    def _emit(self, part: _Partial) -> Candle:
        return Candle(
            self.symbol,
            self.timeframe,
            part.at,
            part.open,
            part.high,
            part.low,
            part.close,
            part.volume,
        )
