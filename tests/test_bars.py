"""Timeframes and bar aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.values import Candle
from bot.engine.bars import BarAggregator, bucket_start, timeframe_seconds

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def five_minute(i: int, o: float, h: float, lo: float, c: float) -> Candle:
    return Candle("BTC/USDT:USDT", "5m", T0 + timedelta(minutes=5 * i), o, h, lo, c, 1.0)


@pytest.mark.parametrize(
    ("tf", "seconds"), [("1m", 60), ("5m", 300), ("1h", 3600), ("4h", 14400), ("1d", 86400)]
)
def test_timeframe_seconds(tf: str, seconds: int) -> None:
    assert timeframe_seconds(tf) == seconds


@pytest.mark.parametrize("tf", ["", "h", "0m", "5x", "-1h"])
def test_bad_timeframe(tf: str) -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        timeframe_seconds(tf)


def test_bucket_start() -> None:
    assert bucket_start(T0 + timedelta(minutes=59, seconds=59), 3600) == T0


def test_twelve_five_minute_candles_make_one_hour() -> None:
    agg = BarAggregator("BTC/USDT:USDT", "1h")
    out: list[Candle] = []
    for i in range(12):
        out += agg.add(five_minute(i, 100 + i, 101 + i + (20 if i == 3 else 0), 99 - i, 100.5 + i))
    assert out == [Candle("BTC/USDT:USDT", "1h", T0, 100, 124, 88, 111.5, 12.0)]


def test_a_gap_closes_the_partial_bar() -> None:
    agg = BarAggregator("BTC/USDT:USDT", "1h")
    assert agg.add(five_minute(0, 1, 2, 0.5, 1.5)) == []
    closed = agg.add(five_minute(13, 3, 4, 2.5, 3.5))  # next hour's second candle
    assert closed == [Candle("BTC/USDT:USDT", "1h", T0, 1, 2, 0.5, 1.5, 1.0)]


def test_same_timeframe_passes_through() -> None:
    candle = Candle("BTC/USDT:USDT", "1h", T0, 1, 2, 0.5, 1.5, 3.0)
    assert BarAggregator("BTC/USDT:USDT", "1h").add(candle) == [candle]
