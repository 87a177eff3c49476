"""The price path assumed inside one OHLC bar (DESIGN.md, step 4).

Prices are in quote currency per base unit. The path is open -> nearer extreme -> farther
extreme -> close: the usual pessimistic-neutral convention when only the bar is known.
"""

from __future__ import annotations


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
