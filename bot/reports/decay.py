"""Why a leveraged token missed L x the underlying: the MECHANICS §8 decomposition.

Benchmark: a *static* position of the same leverage, i.e. leverage L set once at the start of
each holding period and never rebalanced, whose return is L x the underlying's return over that
period (for a token held the whole window: exactly L x r). Holding periods are found on the
hourly grid: an hour counts as held when the exposure at its start is non-zero, with the sign of
that exposure (long token +|L|, short token -|L|).

The gap (token return - benchmark return, both simple returns of the window) is split into:
- rebalancing cost: trading + slippage fees booked to the portfolio,
- management fee, funding (net: paid - received), subscription + redemption fees,
  each as -amount / NAV at the start (negative = it cost the holder),
- volatility decay: the residual, i.e. what rebalancing to constant leverage did to the
  return, gross of every cost (it also absorbs small second-order cross terms).

Analytic estimate (MECHANICS §8.2, 2nd-order): ln(N_n/N_0) ~ L ln(S_n/S_0) - (L^2-L)/2 sum r_i^2
for a token rebalanced at every step i; a static position is the one-step case,
ln(1 + L r) ~ L l - (L^2-L)/2 l^2 with l = ln(S_n/S_0). Their difference, from the hourly realised
variance RV = sum of squared hourly log returns while held, is
    estimate = (1 + benchmark) * (exp(-sum_k (L_k^2-L_k)/2 * (RV_k - l_k^2)) - 1),
which assumes hourly rebalancing; a daily-reset or band token rebalances less often, so its
measured decay inside one day is usually smaller (§8.2: decay is realised at rebalances only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.reports.points import SeriesPoint


@dataclass(frozen=True, slots=True)
class TokenDecomposition:
    """The gap of a token portfolio to L x the underlying; every value a return fraction.

    `target_leverage` is |L| of the token held longest; `leverage_source` says where it came
    from ("preset", "rebalances": median leverage right after rebalance events, or "nav":
    median |leverage| of the NAV rows). Contributions are signed: a cost is negative.
    `gap` = `decay` + `rebalancing` + `management` + `funding` + `subscription_redemption`.
    """

    target_leverage: float
    leverage_source: str
    underlying_return: float
    benchmark_return: float
    token_return: float
    gap: float
    decay: float
    rebalancing: float
    management: float
    funding: float
    subscription_redemption: float
    realised_variance: float
    decay_estimate: float


@dataclass(frozen=True, slots=True)
class _Segment:
    leverage: float
    start_price: float
    end_price: float
    variance: float


def decompose(
    grid: Sequence[SeriesPoint],
    nav_start: float,
    nav_end: float,
    fees: Mapping[str, float],
    target: tuple[float, float, str],
) -> TokenDecomposition:
    """Split a token portfolio's gap to L x the underlying (see the module docstring).

    `grid` is the hourly NAV grid of the window, `fees` the amounts by kind (> 0 cost, USDT),
    `target` the triple (|L| of the long token, |L| of the short token, where they came from).
    """
    long_l, short_l, source = target
    segments = _segments(grid, long_l, short_l)
    long_hours = sum(1 for p in grid[:-1] if p.exposure > 0)
    short_hours = sum(1 for p in grid[:-1] if p.exposure < 0)
    benchmark = math.prod(1 + s.leverage * (s.end_price / s.start_price - 1) for s in segments) - 1
    token = nav_end / nav_start - 1 if nav_start > 0 else 0.0

    def cost(*kinds: str) -> float:
        return -sum(fees.get(k, 0.0) for k in kinds) / nav_start if nav_start > 0 else 0.0

    rebalancing = cost("trading", "slippage")
    management = cost("management")
    funding = cost("funding")
    sub_red = cost("subscription", "redemption")
    gap = token - benchmark
    log_drag = sum(
        (s.leverage**2 - s.leverage) / 2 * (s.variance - math.log(s.end_price / s.start_price) ** 2)
        for s in segments
    )
    first, last = grid[0].price, grid[-1].price
    return TokenDecomposition(
        target_leverage=short_l if short_hours > long_hours else long_l,
        leverage_source=source,
        underlying_return=last / first - 1 if first > 0 else 0.0,
        benchmark_return=benchmark,
        token_return=token,
        gap=gap,
        decay=gap - rebalancing - management - funding - sub_red,
        rebalancing=rebalancing,
        management=management,
        funding=funding,
        subscription_redemption=sub_red,
        realised_variance=sum(s.variance for s in segments),
        decay_estimate=(1 + benchmark) * math.expm1(-log_drag),
    )


def _segments(grid: Sequence[SeriesPoint], long_l: float, short_l: float) -> list[_Segment]:
    # Each grid interval is held in the direction of the exposure at its start (the position
    # chosen then is what the hour's price move acts on); runs of equal direction form segments.
    segments: list[_Segment] = []
    current: _Segment | None = None
    for before, after in zip(grid, grid[1:], strict=False):
        direction = (before.exposure > 0) - (before.exposure < 0)
        if direction == 0 or before.price <= 0 or after.price <= 0:
            current = None
            continue
        leverage = long_l if direction > 0 else -short_l
        step = math.log(after.price / before.price) ** 2
        if current is None or current.leverage != leverage:
            current = _Segment(leverage, before.price, after.price, step)
            segments.append(current)
        else:
            current = _Segment(leverage, current.start_price, after.price, current.variance + step)
            segments[-1] = current
    return segments
