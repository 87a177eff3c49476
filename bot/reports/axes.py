"""Axis ticks for the report charts: round values, log decades, and calendar time ticks.

Time ticks are picked by the window's span so labels never crowd: hours within two days, days
within two months, months within three years, years beyond (at local midnights, first days of
months and of years in the report's timezone), at most about ten per axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MAX_TIME_TICKS = 10


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high - low < 1e-12:
        low, high = low - max(abs(low) * 0.01, 1e-6), high + max(abs(high) * 0.01, 1e-6)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - 1e-12 or len(ticks) < 2:
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis over [low, high] (both > 0): the powers of ten around them,
    with 2x and 5x in between when the range spans at most two decades."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    last = max(last, first + 1)
    if last - first <= 2:
        return [m * 10.0**k for k in range(first, last) for m in (1, 2, 5)] + [10.0**last]
    stride = math.ceil((last - first) / 8)  # at most ~9 decade ticks, the top one included
    decades = list(range(last, first - stride, -stride))[::-1]
    return [10.0**k for k in decades]


def time_ticks(start: datetime, end: datetime, timezone: str) -> list[tuple[datetime, str]]:
    """(time, label) pairs for an axis from `start` to `end`, at calendar boundaries."""
    zone = ZoneInfo(timezone)
    days = (end - start).total_seconds() / 86400
    local = start.astimezone(zone)
    if days <= 2:
        every = next(h for h in (1, 2, 3, 6, 12) if days * 24 / h <= MAX_TIME_TICKS)
        first = local.replace(minute=0, second=0, microsecond=0)
        points = _walk(first, start, end, lambda t: (t + timedelta(hours=1)).astimezone(zone))
        return [(t, t.strftime("%H:%M")) for t in points if t.hour % every == 0]
    if days <= 62:
        every = next(d for d in (1, 2, 7, 14) if days / d <= MAX_TIME_TICKS)
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
        points = _walk(first, start, end, lambda t: _day_after(t, zone))
        return [(t, t.strftime("%m-%d")) for t in points[::every]]
    if days <= 3 * 366:
        every = next(m for m in (1, 2, 3, 6, 12) if days / 30.4 / m <= MAX_TIME_TICKS)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        points = _walk(first, start, end, lambda t: _months_after(t, 1, zone))
        return [(t, t.strftime("%Y-%m")) for t in points if (t.month - 1) % every == 0]
    every = next(y for y in (1, 2, 5, 10, 20, 50) if days / 365 / y <= MAX_TIME_TICKS)
    first = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    points = _walk(first, start, end, lambda t: _months_after(t, 12, zone))
    return [(t, t.strftime("%Y")) for t in points if t.year % every == 0]


def _walk(
    first: datetime, start: datetime, end: datetime, step: Callable[[datetime], datetime]
) -> list[datetime]:
    # Calendar points from `first` (the boundary at or before `start`) up to `end`, keeping
    # those inside [start, end].
    out, at = [], first
    while at <= end:
        if at >= start:
            out.append(at)
        at = step(at)
    return out


def _day_after(at: datetime, zone: ZoneInfo) -> datetime:
    # The next local midnight (a DST day has 23 or 25 hours).
    naive = at.replace(tzinfo=None) + timedelta(days=1)
    return naive.replace(tzinfo=zone)


def _months_after(at: datetime, months: int, zone: ZoneInfo) -> datetime:
    index = at.month - 1 + months
    naive = at.replace(tzinfo=None, year=at.year + index // 12, month=index % 12 + 1)
    return naive.replace(tzinfo=zone)
