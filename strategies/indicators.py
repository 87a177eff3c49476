"""Small indicator helpers over plain float sequences (no pandas on the hot path)."""

from __future__ import annotations

from collections.abc import Sequence


def sma(values: Sequence[float], period: int) -> float:
    """Simple moving average of the last `period` values."""
    window = values[-period:]
    return sum(window) / period


def atr(high: Sequence[float], low: Sequence[float], close: Sequence[float], period: int) -> float:
    """Average true range over the last `period` bars (simple mean of true ranges).

    The first bar of a history has no previous close: its true range is its own high - low.
    """
    n = len(close)
    start = n - period
    if start < 1:  # the window reaches the first bar (or the history is shorter than it)
        ranges = []
        for i in range(start, n):
            prev_close = close[i - 1] if i > 0 else close[i]
            ranges.append(
                max(high[i] - low[i], abs(high[i] - prev_close), abs(low[i] - prev_close))
            )
        return sum(ranges) / period
    # One slice per column instead of an index lookup per value; same values, same order. The
    # largest of the three as max() picks it (the first that compares greater), without the
    # call: this runs at every bar of every experiment using it.
    previous = close[start - 1 : n - 1]
    ranges = []
    for h, lo, c in zip(high[start:n], low[start:n], previous, strict=True):
        true_range = h - lo
        up, down = abs(h - c), abs(lo - c)
        if up > true_range:
            true_range = up
        if down > true_range:
            true_range = down
        ranges.append(true_range)
    return sum(ranges) / period
