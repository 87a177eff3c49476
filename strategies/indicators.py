"""Small indicator helpers over plain float sequences (no pandas on the hot path)."""

from __future__ import annotations

from collections.abc import Sequence


def sma(values: Sequence[float], period: int) -> float:
    """Simple moving average of the last `period` values."""
    window = values[-period:]
    return sum(window) / period


def atr(high: Sequence[float], low: Sequence[float], close: Sequence[float], period: int) -> float:
    """Average true range over the last `period` bars (simple mean of true ranges)."""
    n = len(close)
    ranges = []
    for i in range(n - period, n):
        prev_close = close[i - 1] if i > 0 else close[i]
        ranges.append(max(high[i] - low[i], abs(high[i] - prev_close), abs(low[i] - prev_close)))
    return sum(ranges) / period
