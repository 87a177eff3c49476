"""Fidelity figures of a simulated token against the real one, on daily values.

Inputs are daily values (a token's split-adjusted price or a simulated unit's value, in USDT,
or the underlying's price) indexed by UTC midnight. A daily return exists only between two
consecutive calendar days that both have a value: gaps in the real series are skipped, never
bridged. Log returns throughout; annualised with 365 days (crypto trades every day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365
WINDOW_DAYS = 30
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_LEVEL = 0.90
_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Fidelity:
    """The figures of one simulated series against the real one over one span."""

    days: int  # daily returns compared
    tracking_error: float  # annualised RMS of the daily log-return differences
    beta_sim: float  # slope of the simulated daily log returns on the underlying's
    beta_real: float  # the same for the real token
    window_error: float  # median |30-day log return, real − simulated|
    window_error_lo: float  # its bootstrap interval (BOOTSTRAP_LEVEL), NaN without windows
    window_error_hi: float
    terminal_ratio: float  # simulated over real growth of one unit from first to last day


def daily_log_returns(values: pd.Series) -> pd.Series:
    """Return log(v_t / v_{t−1 day}) for each day whose previous calendar day has a value."""
    return _lagged_log_returns(values, _DAY)


def window_log_returns(values: pd.Series, days: int = WINDOW_DAYS) -> pd.Series:
    """Return log(v_t / v_{t−days}) for each day `days` after another day with a value."""
    return _lagged_log_returns(values, days * _DAY)


def _lagged_log_returns(values: pd.Series, lag: pd.Timedelta) -> pd.Series:
    earlier = values.copy()
    earlier.index = earlier.index + lag
    common = values.index.intersection(earlier.index)
    out = np.log(values[common].to_numpy(dtype=float) / earlier[common].to_numpy(dtype=float))
    return pd.Series(out, index=common, dtype=float)


def tracking_error(real: pd.Series, sim: pd.Series) -> float:
    """Annualised root mean square of the daily log-return differences (real − simulated).

    RMS rather than a standard deviation: a steady drift (fees, decay) is a tracking error.
    """
    a, b = _common(daily_log_returns(real), daily_log_returns(sim))
    if len(a) == 0:
        return math.nan
    return float(np.sqrt(np.mean((a - b) ** 2)) * math.sqrt(DAYS_PER_YEAR))


def effective_beta(token: pd.Series, underlying: pd.Series) -> float:
    """OLS slope of the token's daily log returns on the underlying's (days both have)."""
    y, x = _common(daily_log_returns(token), daily_log_returns(underlying))
    if len(x) < 2 or float(np.var(x)) == 0.0:
        return math.nan
    return float(np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1))


def window_errors(real: pd.Series, sim: pd.Series, days: int = WINDOW_DAYS) -> np.ndarray:
    """Return |log-return over `days`, real − simulated| for every window both series have."""
    a, b = _common(window_log_returns(real, days), window_log_returns(sim, days))
    errors: np.ndarray = np.abs(a - b)
    return errors


def terminal_ratio(real: pd.Series, sim: pd.Series) -> float:
    """Return (sim_last / sim_first) / (real_last / real_first) over the days both have."""
    common = real.index.intersection(sim.index)
    if len(common) < 2:
        return math.nan
    r, s = real[common].to_numpy(dtype=float), sim[common].to_numpy(dtype=float)
    return float((s[-1] / s[0]) / (r[-1] / r[0]))


def block_bootstrap_median(
    values: np.ndarray, seed: int = 0, draws: int = BOOTSTRAP_DRAWS, block: int = WINDOW_DAYS
) -> tuple[float, float, float]:
    """Return the median of `values` and its moving-block bootstrap interval (90 %).

    Overlapping 30-day windows are strongly autocorrelated, so blocks of `block` consecutive
    values are resampled (Künsch 1989), not single values. The interval is NaN with fewer than
    two blocks of values (it would only reshuffle one block); everything is NaN without values.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n < 2 * block:
        return float(np.median(values)), math.nan, math.nan
    medians = np.median(_block_samples(values, np.random.default_rng(seed), draws, block), axis=1)
    tail = (1.0 - BOOTSTRAP_LEVEL) / 2.0
    lo, hi = np.quantile(medians, [tail, 1.0 - tail])
    return float(np.median(values)), float(lo), float(hi)


def block_indices(n: int, rng: np.random.Generator, draws: int, block: int) -> np.ndarray:
    """Return `draws` rows of n indices into range(n), built from random blocks of `block`."""
    block = max(1, min(block, n))
    count = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(draws, count))
    rows = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(draws, -1)
    return rows[:, :n]


def _block_samples(
    values: np.ndarray, rng: np.random.Generator, draws: int, block: int
) -> np.ndarray:
    samples: np.ndarray = values[block_indices(len(values), rng, draws, block)]
    return samples


def fidelity(real: pd.Series, sim: pd.Series, underlying: pd.Series, seed: int = 0) -> Fidelity:
    """Compute every figure of `sim` against `real` (daily values) over the days both have."""
    median, lo, hi = block_bootstrap_median(window_errors(real, sim), seed)
    a, _ = _common(daily_log_returns(real), daily_log_returns(sim))
    return Fidelity(
        days=len(a),
        tracking_error=tracking_error(real, sim),
        beta_sim=effective_beta(sim[sim.index.isin(real.index)], underlying),
        beta_real=effective_beta(real, underlying),
        window_error=median,
        window_error_lo=lo,
        window_error_hi=hi,
        terminal_ratio=terminal_ratio(real, sim),
    )


def _common(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    index = a.index.intersection(b.index)
    return a[index].to_numpy(dtype=float), b[index].to_numpy(dtype=float)
