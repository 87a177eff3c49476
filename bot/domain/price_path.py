"""The price path assumed inside one OHLC bar (DESIGN.md, step 4) and the points of a path.

Prices are in quote currency per base unit. The path is open -> nearer extreme -> farther
extreme -> close: the usual pessimistic-neutral convention when only the bar is known.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from math import inf
from typing import NamedTuple

_ZERO = timedelta(0)


class PricePoint(NamedTuple):
    """One point of a price path, as the engine hands it to the portfolios.

    `last` and `mark` in USDT per base unit; `gap`: the price may have jumped here (a tick or
    a bar's open); `bar_close`: the point closes a bar or is a tick (where "bar close"
    monitoring checks its rules).
    """

    at: datetime
    last: float
    mark: float
    gap: bool
    bar_close: bool


def bar_path(open: float, high: float, low: float, close: float) -> tuple[float, ...]:
    """Return the bar's price path: open, nearer extreme, farther extreme, close.

    Consecutive equal prices are dropped (a bar that opens at its high yields three points).
    The first point is the bar's open, which may gap away from the previous price; the moves
    between later points are continuous, so a level between two of them is touched exactly.
    """
    _check_bar(open, high, low, close)
    # Assumption: the extreme nearer to the open is visited first; on a tie (open exactly
    # half-way) the low comes first, which is the adverse order for a long position.
    high_first = high - open < open - low
    points = (open, high, low, close) if high_first else (open, low, high, close)
    path = [points[0]]
    for price in points[1:]:
        if price != path[-1]:
            path.append(price)
    return tuple(path)


def _check_bar(open: float, high: float, low: float, close: float) -> None:
    if not min(open, high, low, close) > 0.0:
        raise ValueError(f"bar prices must be > 0, got {(open, high, low, close)}")
    if high < max(open, close) or low > min(open, close):
        raise ValueError(f"inconsistent bar: open={open} high={high} low={low} close={close}")


def check_time(at: datetime, previous: datetime | None = None) -> None:
    """Raise ValueError unless `at` is UTC-aware and not before `previous`."""
    zone = at.tzinfo  # UTC itself (the usual one) needs no offset lookup
    if zone is not UTC and (zone is None or at.utcoffset() != _ZERO):
        raise ValueError(f"time must be timezone-aware UTC, got {at!r}")
    if previous is not None and at < previous:
        raise ValueError(f"time went backwards: {at.isoformat()} < {previous.isoformat()}")


def check_price(price: float) -> None:
    """Raise ValueError unless `price` is a finite number > 0."""
    if not price > 0 or price == inf:
        raise ValueError(f"price must be a finite number > 0, got {price}")


def paired_bar_path(
    last: tuple[float, float, float, float], mark: tuple[float, float, float, float]
) -> tuple[tuple[float, float], ...]:
    """The path of one bar for the last price and the mark together, as (last, mark) pairs:
    each walks its own open -> extremes -> close (OHLC tuples), both in the order of the last
    price's nearer extreme; a point where neither moved is dropped.

    Assumption: within one bar the mark swings with the last price (the mark follows the
    index and the book, MECHANICS §9), so their extremes come in the same order; what differs
    is how far each swings (a last-price wick the mark does not follow liquidates nothing).
    """
    _check_bar(*last)
    _check_bar(*mark)
    o, h, lo, c = last
    high_first = h - o < o - lo  # bar_path's rule, adverse on a tie
    order = (0, 1, 2, 3) if high_first else (0, 2, 1, 3)
    path = [(last[order[0]], mark[order[0]])]
    for k in order[1:]:
        pair = (last[k], mark[k])
        if pair != path[-1]:
            path.append(pair)
    return tuple(path)
