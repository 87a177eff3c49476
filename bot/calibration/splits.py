"""Reverse splits in a real token's price series: detect them and undo them.

Rule (stated in `ltbot calibrate -h` and docs/FIDELITY.md): between two consecutive closes, a
token price that rises by a factor of 5 or more is a reverse split when the rise, divided by
the move its leverage implies from the underlying over the same interval, rounds (in log10) to
a power of ten of at least 10; the split ratio is that power of ten. Why: a reverse split
multiplies the price by a round ratio (Binance's ETHDOWN on 2021-07-08/09: 0.000059 -> 6.767,
"about 1:100 000", data/leveraged_tokens/README), while no token of |L| <= 4 rises five-fold in
one bar of a 4h series without a split (the largest real 4h rises in the shipped series are
below 2x). Only rises are tested: a reverse split raises the price, and a collapse is a market
move (ETHDOWN on 2021-05-19). Undoing divides every price from the split on by the ratio, so
the series is the value of one unit held from the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# A rise of this factor between consecutive closes is examined as a possible reverse split.
MIN_JUMP = 5.0
# The smallest ratio accepted (ratios are powers of ten).
MIN_RATIO = 10.0


@dataclass(frozen=True, slots=True)
class Split:
    """One reverse split: at `at` (the first close after it) the price was multiplied by `ratio`."""

    at: pd.Timestamp
    ratio: float
    jump: float  # the observed close-to-close factor


def detect_reverse_splits(closes: pd.Series, implied_moves: pd.Series | None = None) -> list[Split]:
    """Return the reverse splits of `closes` (prices indexed by time), by the module's rule.

    `implied_moves`: the gross return (e.g. 1.02) the token's leverage implies from the
    underlying between each close and the previous one, indexed like `closes`; missing
    entries (or no series) count as 1.
    """
    values = closes.to_numpy(dtype=float)
    if len(values) < 2:
        return []
    jumps = values[1:] / values[:-1]
    implied = np.ones(len(values))
    if implied_moves is not None:
        aligned = implied_moves.reindex(closes.index).to_numpy(dtype=float)
        implied = np.where(np.isfinite(aligned) & (aligned > 0), aligned, 1.0)
    found = []
    for k in np.flatnonzero(jumps >= MIN_JUMP):
        ratio = 10.0 ** round(math.log10(jumps[k] / implied[k + 1]))
        if ratio >= MIN_RATIO:
            found.append(Split(pd.Timestamp(closes.index[int(k) + 1]), ratio, float(jumps[k])))
    return found


def undo_splits(closes: pd.Series, splits: list[Split]) -> pd.Series:
    """Return `closes` with every price from each split on divided by its ratio."""
    factor = pd.Series(1.0, index=closes.index)
    for split in splits:
        factor[closes.index >= split.at] *= split.ratio
    return closes / factor
