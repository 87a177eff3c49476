"""Composable rebalance rules for leveraged-token funds (MECHANICS §0, §1–§6, §12).

A rule looks at a `RuleContext` (real leverage, target, move since the last rebalance) and says
whether the fund rebalances now. Rules are small frozen values; `AnyOf` composes them. The
*when* (every price, bar close, a daily time) is decided by the fund (`leveraged_token`), the
*whether* lives here, and so does *how far* a rebalance trades (`target_exposure`).

Sign conventions: leverages are signed (+3 long, -3 short); bounds are magnitudes compared with
|leverage|; `move` is the underlying return since the last rebalance (0.1 = +10 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may look at: real leverage λ, target L (both signed), move since rebalance."""

    leverage: float
    target: float
    move: float


class Rule(Protocol):
    """A rebalance condition."""

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when the fund should rebalance back to its target now."""
        ...


@dataclass(frozen=True, slots=True)
class Always:
    """Rebalance at every check: the `ideal_continuous` token (MECHANICS §8.1)."""

    def fires(self, ctx: RuleContext) -> bool:
        """Return True."""
        return True


@dataclass(frozen=True, slots=True)
class Band:
    """Rebalance when |λ| leaves [lo, hi]; touching a bound counts as leaving it.

    Bybit states "λ >= 4 or λ <= 2" [BY-REB]; Binance "leaves the range" [BN-WHAT]. The two only
    differ on a set of prices of measure zero, so one inclusive rule serves both (assumption).
    """

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"band needs 0 <= lo < hi, got [{self.lo}, {self.hi}]")

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when |λ| <= lo or |λ| >= hi."""
        magnitude = abs(ctx.leverage)
        return magnitude <= self.lo or magnitude >= self.hi


@dataclass(frozen=True, slots=True)
class LeverageAbove:
    """Rebalance when |λ| >= bound (FTX "whenever they get 4x levered" [FTX-FAQ], Gate > 4x).

    Only adverse moves raise |λ| for L > 1 or L < 0, so this is an adverse-only trigger.
    """

    bound: float

    def __post_init__(self) -> None:
        if self.bound <= 0:
            raise ValueError(f"leverage bound must be > 0, got {self.bound}")

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when |λ| >= bound."""
        return abs(ctx.leverage) >= self.bound


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Rebalance when |λ| deviates from the target |L| by `width` or more (Binance's need basis,
    MECHANICS §1 modelling note: the width is hidden by Binance, a parameter).

    Written as a band [|L| − width, |L| + width] with touching counting as leaving it, like
    `Band`, so `QuietZone` can state it with the same two float subtractions.
    """

    target: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"tolerance must be > 0, got {self.width}")

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when |λ| <= |L| − width or |λ| >= |L| + width."""
        magnitude = abs(ctx.leverage)
        return magnitude <= self.target - self.width or magnitude >= self.target + self.width


@dataclass(frozen=True, slots=True)
class MoveSinceRebalance:
    """Rebalance when the underlying moved by `threshold` since the last rebalance.

    With `adverse_only` only the losing side fires: a fall for a long token, a rise for a short
    one (KuCoin/MEXC 15 % [KC-REB][MX-REB]). Without it both directions fire (Gate ±20 %).
    """

    threshold: float
    adverse_only: bool = True

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise ValueError(f"move threshold must be > 0, got {self.threshold}")

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when the move since the last rebalance reaches the threshold."""
        if not self.adverse_only:
            return abs(ctx.move) >= self.threshold
        # The losing direction is the one opposite to the sign of the target leverage.
        against = -ctx.move if ctx.target > 0 else ctx.move
        return against >= self.threshold


@dataclass(frozen=True, slots=True)
class MoveAbove:
    """Daily-check condition: |move since the last rebalance| > threshold (Gate "> 1 %")."""

    threshold: float

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when |move| > threshold."""
        return abs(ctx.move) > self.threshold


@dataclass(frozen=True, slots=True)
class OutsideRange:
    """Daily-check condition: |λ| < lo or |λ| > hi (Gate "real leverage < 2x or > 4x")."""

    lo: float
    hi: float

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when |λ| is strictly outside [lo, hi]."""
        magnitude = abs(ctx.leverage)
        return magnitude < self.lo or magnitude > self.hi


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Fire when any of the composed rules fires; an empty AnyOf never fires."""

    rules: tuple[Rule, ...] = ()

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when any member fires."""
        return any(rule.fires(ctx) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class DailyReset:
    """Scheduled reset to target every day at `time_of_day` ("HH:MM:SS" UTC), unconditionally."""

    time_of_day: str

    def fires(self, ctx: RuleContext) -> bool:
        """Return True: a reset always rebalances."""
        return True


@dataclass(frozen=True, slots=True)
class DailyCheck:
    """Scheduled check every day at `time_of_day` (UTC): rebalance only if `condition` fires."""

    time_of_day: str
    condition: Rule

    def fires(self, ctx: RuleContext) -> bool:
        """Return True when the condition fires at the check time."""
        return self.condition.fires(ctx)


def target_exposure(target: float, nav: float, current: float, cost_rate: float) -> float:
    """Return the exposure (USDT per unit, signed) that leaves λ = `target` after the fund pays
    `cost_rate` (fee + slippage, a fraction) of the notional traded from `current` out of `nav`.
    """
    gap = target * nav - current
    if abs(gap) <= 1e-12 * max(abs(current), nav):
        return current  # already on target: nothing to trade, nothing to pay
    direction = math.copysign(1.0, gap)
    # Solve x = L·(N − c·|x − a|) so that λ = L holds after the fund pays its own costs.
    denominator = 1 + target * cost_rate * direction
    exposure = target * (nav + cost_rate * direction * current) / denominator
    if denominator <= 0 or (exposure - current) * direction < 0:
        raise ValueError(f"rebalance costs {cost_rate} too high for leverage {target}")
    return exposure
