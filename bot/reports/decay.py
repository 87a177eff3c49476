"""Why a leveraged token missed L x the underlying, in log terms (MECHANICS §8).

Every term is a natural-log return over the attributed span, so the terms add up exactly and stay
bounded on any horizon (simple-return points of a start NAV do not: on a 16-month window one read
+67,910 points when the static benchmark was wiped out and the token was not):

    ln(N_end / N_start) = L x ln(S_end / S_start)  (the benchmark: leverage L on every held hour)
                        + volatility decay          (the residual, gross of every cost)
                        + rebalancing + management + funding + subscription/redemption

The benchmark sums, over each hour held (exposure at the hour's start != 0, on the hourly grid),
+|L| (long token) or -|L| (short token) times that hour's log price change: a position kept at
leverage L continuously, with no decay. Each cost term sums, hour by hour, the log of what that
hour's fees took: with N1 the hour's closing NAV and G = N1 + the hour's fees (the NAV gross of
them), the kinds are taken out one after the other (trading + slippage, management, funding,
subscription + redemption: ln(G - f1) - ln(G), ...), so the costs of an hour add up to
ln(N1 / G) exactly. A negative term cost the holder; funding received is positive.

Analytic estimate (MECHANICS §8.2, 2nd order): a token rebalanced every step i has
ln(N_n/N_0) ~ L ln(S_n/S_0) - (L^2 - L)/2 sum r_i^2, so the decay is about
-(L^2 - L)/2 x RV, RV the hourly realised variance (sum of squared hourly log returns while
held, each hour with its L). It assumes hourly rebalancing; a daily-reset or band token
rebalances less often, so its measured decay over short spans is usually smaller.

A token whose NAV reaches 0 has a log return of minus infinity: its attribution stops at its
last positive NAV (`until`), and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.reports.points import SeriesPoint

# The cost groups in the order they are taken out of an hour's gross NAV, with their fee kinds.
COST_GROUPS = (
    ("rebalancing", ("trading", "slippage")),
    ("management", ("management",)),
    ("funding", ("funding",)),
    ("subscription_redemption", ("subscription", "redemption")),
)


@dataclass(frozen=True, slots=True)
class FeeEvent:
    """One fee row: `amount` in USDT, > 0 a cost (funding < 0 was received)."""

    at: datetime
    kind: str
    amount: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(self, at: datetime, kind: str, amount: float) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "amount", amount)


@dataclass(frozen=True, slots=True)
class TokenDecomposition:
    """A token portfolio's log return split against L x the underlying's log return.

    Every value but `target_leverage` and `realised_variance` is a natural-log return (0.01 is
    about 1 %). `target_leverage` is |L| of the token held longest; `leverage_source` says where
    it came from ("preset", "rebalances", "nav"). `gap` = `token_log` - `benchmark_log` =
    `decay` + `rebalancing` + `management` + `funding` + `subscription_redemption`.
    `until` is the end of the attribution when the NAV reached 0 before the window's end.
    """

    target_leverage: float
    leverage_source: str
    underlying_log: float
    benchmark_log: float
    token_log: float
    gap: float
    decay: float
    rebalancing: float
    management: float
    funding: float
    subscription_redemption: float
    realised_variance: float
    decay_estimate: float
    until: datetime | None = None


def decompose(
    grid: Sequence[SeriesPoint],
    fees: Sequence[FeeEvent],
    target: tuple[float, float, str],
) -> TokenDecomposition | None:
    """Split a token portfolio's log return (see the module docstring); None when its NAV
    was never positive on the grid.

    `grid` is the hourly NAV grid of the window, `fees` its fee rows in time order, `target`
    the triple (|L| of the long token, |L| of the short token, where they came from).
    """
    long_l, short_l, source = target
    alive = _alive(grid)
    if len(alive) < 2:
        return None
    costs = _costs(alive, fees)
    benchmark = variance = drag = 0.0
    long_hours = short_hours = 0
    for before, after in zip(alive, alive[1:], strict=False):
        direction = (before.exposure > 0) - (before.exposure < 0)
        if direction == 0 or before.price <= 0 or after.price <= 0:
            continue
        leverage = long_l if direction > 0 else -short_l
        long_hours, short_hours = long_hours + (direction > 0), short_hours + (direction < 0)
        step = math.log(after.price / before.price)
        benchmark += leverage * step
        variance += step**2
        drag += (leverage**2 - leverage) / 2 * step**2
    token = math.log(alive[-1].nav / alive[0].nav)
    first, last = alive[0].price, alive[-1].price
    gap = token - benchmark
    return TokenDecomposition(
        target_leverage=short_l if short_hours > long_hours else long_l,
        leverage_source=source,
        underlying_log=math.log(last / first) if first > 0 and last > 0 else 0.0,
        benchmark_log=benchmark,
        token_log=token,
        gap=gap,
        decay=gap - sum(costs.values()),
        realised_variance=variance,
        decay_estimate=-drag,
        until=alive[-1].at if len(alive) < len(grid) else None,
        **costs,
    )


def _alive(grid: Sequence[SeriesPoint]) -> Sequence[SeriesPoint]:
    # The grid up to the last point before the NAV first reaches 0 (none if it starts at 0).
    for i, point in enumerate(grid):
        if point.nav <= 0:
            return grid[:i]
    return grid


def _costs(grid: Sequence[SeriesPoint], fees: Sequence[FeeEvent]) -> dict[str, float]:
    # Hour by hour (fees in (previous grid time, grid time]), each group's log share of the
    # hour's costs. A group that would take the gross NAV to 0 or below is left to the residual.
    totals = dict.fromkeys((name for name, _ in COST_GROUPS), 0.0)
    kinds = {kind: name for name, group in COST_GROUPS for kind in group}
    j = 0
    while j < len(fees) and fees[j].at <= grid[0].at:
        j += 1
    for point in grid[1:]:
        hour: dict[str, float] = {}
        while j < len(fees) and fees[j].at <= point.at:
            if (name := kinds.get(fees[j].kind)) is not None:
                hour[name] = hour.get(name, 0.0) + fees[j].amount
            j += 1
        if not hour:
            continue
        gross = point.nav + sum(hour.values())
        for name, _ in COST_GROUPS:
            if (amount := hour.get(name, 0.0)) == 0.0:
                continue
            net = gross - amount
            if gross > 0 and net > 0:
                totals[name] += math.log(net / gross)
            gross = net
    return totals
