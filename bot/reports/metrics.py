"""Pure performance metrics: returns, drawdown, volatility, Sharpe, Sortino and Calmar ratios.

Conventions (also in docs/REPORTS.md):
- NAVs are sampled on an hourly grid (the last NAV at or before each full hour of the window,
  plus the window's end); volatility and Sharpe use the log returns between grid points.
- Volatility is the sample standard deviation (n - 1) of hourly log returns times
  sqrt(365 * 24): crypto trades every hour of the year.
- Sharpe = mean / standard deviation of hourly log returns times sqrt(365 * 24), with a
  risk-free rate of 0. Undefined (None) with fewer than two returns or zero volatility.
- Maximum drawdown is measured on every NAV row (not only the grid), as a positive fraction of
  the running peak: 0.1 means the NAV fell 10 % below its highest value so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

HOURS_PER_YEAR = 365 * 24
HOUR = timedelta(hours=1)


def total_return(start: float, end: float) -> float:
    """Simple return end / start - 1 (a fraction); 0 when `start` is not positive."""
    return end / start - 1.0 if start > 0 else 0.0


def max_drawdown(values: Sequence[float]) -> float:
    """Largest fall from a running peak, as a positive fraction of that peak (0 if none)."""
    peak = -math.inf
    worst = 0.0
    for value in values:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, 1.0 - value / peak)
    return worst


def drawdown_series(values: Sequence[float]) -> list[float]:
    """Drawdown at each point (fraction of the running peak, >= 0)."""
    peak = -math.inf
    out: list[float] = []
    for value in values:
        peak = max(peak, value)
        out.append(1.0 - value / peak if peak > 0 else 0.0)
    return out


def log_returns(values: Sequence[float]) -> list[float]:
    """Log returns between consecutive values; a step to or from a non-positive value is 0."""
    pairs = zip(values, values[1:], strict=False)
    return [math.log(b / a) if a > 0 and b > 0 else 0.0 for a, b in pairs]


def annualised_volatility(
    returns: Sequence[float], periods_per_year: int = HOURS_PER_YEAR
) -> float | None:
    """Sample standard deviation of per-period returns times sqrt(periods_per_year)."""
    std = _stdev(returns)
    return None if std is None else std * math.sqrt(periods_per_year)


def sharpe_ratio(returns: Sequence[float], periods_per_year: int = HOURS_PER_YEAR) -> float | None:
    """Annualised Sharpe ratio with a zero risk-free rate: mean / std * sqrt(periods)."""
    std = _stdev(returns)
    if std is None or std == 0.0:
        return None
    return sum(returns) / len(returns) / std * math.sqrt(periods_per_year)


def _stdev(returns: Sequence[float]) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))


def hourly_grid(start: datetime, end: datetime) -> list[datetime]:
    """`start`, every full hour after it (UTC) before `end`, and `end`."""
    grid = [start]
    hour = start.replace(minute=0, second=0, microsecond=0) + HOUR
    while hour < end:
        grid.append(hour)
        hour += HOUR
    if end > start:
        grid.append(end)
    return grid


def sortino_ratio(returns: Sequence[float], periods_per_year: int = HOURS_PER_YEAR) -> float | None:
    """Annualised Sortino ratio, target 0: mean / downside deviation * sqrt(periods).

    The downside deviation is sqrt(mean(min(r, 0)^2)) over every period (the empyrical
    convention); None with fewer than two returns or no negative return.
    """
    if len(returns) < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside == 0.0:
        return None
    return sum(returns) / len(returns) / downside * math.sqrt(periods_per_year)


def annualised_return(start: float, end: float, days: float) -> float | None:
    """Compound annual growth (end / start)^(365 / days) - 1; None without a span or a start.

    A year is 365 days (crypto trades every day); a NAV of 0 at the end gives -1.
    """
    if start <= 0 or days <= 0:
        return None
    if end <= 0:
        return -1.0
    exponent = math.log(end / start) * 365.0 / days
    return math.expm1(exponent) if exponent < 700 else math.inf


def calmar_ratio(annual: float | None, drawdown: float) -> float | None:
    """Annualised return / max drawdown (a positive fraction); None without a drawdown."""
    if annual is None or drawdown <= 0 or not math.isfinite(annual):
        return None
    return annual / drawdown


def longest_underwater(times: Sequence[datetime], values: Sequence[float]) -> timedelta:
    """The longest stretch spent below a previous peak: from the peak to the first value back
    at or above it, or to the last time when it never got back."""
    longest = timedelta(0)
    peak, peak_at, under = -math.inf, None, False
    for at, value in zip(times, values, strict=True):
        if value >= peak:
            if under and peak_at is not None:
                longest = max(longest, at - peak_at)
            peak, peak_at, under = value, at, False
        else:
            under = True
    if under and peak_at is not None:
        longest = max(longest, times[-1] - peak_at)
    return longest
