"""TokenSpec: every parameter of one leveraged token (one family, one side), flat and overridable.

Ratios are fractions (`*_pct`: 0.001 = 0.1 %); fees per day are fractions of NAV per day; times of
day are "HH:MM:SS" UTC text (kept as text so state and config round-trip as plain JSON).
The rules are built from the flat fields by `intraday_rule` and `daily_rule`, so any single number
can be overridden by name in config (`token:ftx:max_leverage=5`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.rebalance_rules import (
    Always,
    AnyOf,
    Band,
    DailyCheck,
    DailyReset,
    LeverageAbove,
    MoveAbove,
    MoveSinceRebalance,
    OutsideRange,
    Rule,
    Tolerance,
)
from bot.domain.values import Side

MONITORING_MODES = ("continuous", "bar_close")
ROUTES = ("subscribe", "spot", "auto")
DAILY_MODES = ("reset", "check")
# Identity fields: chosen by the registry, never by a config override.
FIXED_FIELDS = frozenset({"family", "side", "label"})
# No leveraged token has targeted more than 5x (gate_5x); 10 leaves room for experiments, and a
# fund at 1000x would be wiped out by a 0.1 % move between two rebalances.
MAX_TARGET_LEVERAGE = 10.0


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """One token's parameters. See `token_presets` for sources and assumptions per family.

    - `target_leverage`: |L| (> 0); the sign comes from `side`.
    - `monitoring`: "continuous" checks intraday rules at every price it is given, "bar_close"
      only at prices flagged as a bar close.
    - Daily schedule: `daily_time` (None = no schedule), `daily_mode` "reset" (always) or "check"
      (only if |λ| < `daily_lo`, |λ| > `daily_hi` or |move| > `daily_move_pct`).
    - Intraday rules (any fires): `band_lo`/`band_hi` on |λ|, `tolerance` (| |λ| − |L| | >=
      tolerance, in leverage units), `max_leverage` (|λ| >= U), `move_trigger_pct` since the
      last rebalance (`move_adverse_only`), `always_rebalance`. The target must lie strictly
      inside the intraday bounds (a target on a trigger would rebalance at every price).
    - Costs borne by NAV: `rebalance_fee_pct` and `slippage_pct` of |notional traded|;
      `management_fee_pct` per day at `management_time`; funding if `funding_pass_through`.
    - Holder: `subscription_fee_pct`, `redemption_fee_pct`; requests during the
      `rebalance_minutes` after a rebalance are deferred.
    - Reverse split: NAV < `split_threshold_nav` gives NAV x `split_ratio`, units / ratio.
    - Holder's route (issue 16): `route` "subscribe" (primary market, the default), "spot"
      (buy and sell on the spot market at NAV·(1 + `spot_premium_pct`) ± half the
      `spot_spread_pct`, paying `spot_fee_pct`; needs a spot fee) or "auto" (subscribe and
      redeem up to the daily caps, the rest on the spot market).
    - Daily caps per portfolio and UTC day, in USDT (a redemption counted at NAV):
      `daily_subscription_cap`, `daily_redemption_cap` (None: no cap).
    """

    family: str
    side: Side
    label: str
    target_leverage: float
    monitoring: str = "continuous"
    daily_time: str | None = None
    daily_mode: str = "reset"
    daily_lo: float | None = None
    daily_hi: float | None = None
    daily_move_pct: float | None = None
    band_lo: float | None = None
    band_hi: float | None = None
    tolerance: float | None = None
    max_leverage: float | None = None
    move_trigger_pct: float | None = None
    move_adverse_only: bool = True
    always_rebalance: bool = False
    rebalance_fee_pct: float = 0.0
    slippage_pct: float = 0.0
    management_fee_pct: float = 0.0
    management_time: str | None = None
    funding_pass_through: bool = True
    subscription_fee_pct: float = 0.0
    redemption_fee_pct: float = 0.0
    rebalance_minutes: float = 0.0
    split_threshold_nav: float | None = None
    split_ratio: float = 10.0
    spot_fee_pct: float | None = None
    route: str = "subscribe"
    spot_premium_pct: float = 0.0
    spot_spread_pct: float = 0.001
    daily_subscription_cap: float | None = None
    daily_redemption_cap: float | None = None

    def __post_init__(self) -> None:
        _check_positive("target_leverage", self.target_leverage)
        _check_choice("monitoring", self.monitoring, MONITORING_MODES)
        _check_choice("daily_mode", self.daily_mode, DAILY_MODES)
        _check_route(self)
        for name in ("daily_time", "management_time"):
            value = getattr(self, name)
            if value is not None:
                seconds_of_day(value)
        for name in _FRACTIONS:
            _check_fraction(name, getattr(self, name))
        if self.band_lo is not None or self.band_hi is not None:
            Band(self.band_lo or 0.0, self.band_hi or math.inf)
        if self.tolerance is not None:
            Tolerance(self.target_leverage, self.tolerance)
        if self.rebalance_minutes < 0:
            raise ValueError(f"rebalance_minutes must be >= 0, got {self.rebalance_minutes}")
        if self.split_ratio <= 1:
            raise ValueError(f"split_ratio must be > 1, got {self.split_ratio}")
        _check_target_in_range(self)

    @property
    def leverage(self) -> float:
        """The signed target leverage L."""
        return float(self.side) * self.target_leverage


_FRACTIONS = (
    "rebalance_fee_pct",
    "slippage_pct",
    "management_fee_pct",
    "subscription_fee_pct",
    "redemption_fee_pct",
    "spot_spread_pct",
)


def _check_route(spec: TokenSpec) -> None:
    _check_choice("route", spec.route, ROUTES)
    if spec.route != "subscribe" and spec.spot_fee_pct is None:
        raise ValueError(f"route {spec.route!r} needs spot_fee_pct (this preset's is UNCONFIRMED)")
    if spec.spot_fee_pct is not None:
        _check_fraction("spot_fee_pct", spec.spot_fee_pct)
    if not -1 < spec.spot_premium_pct < 1:
        raise ValueError(f"spot_premium_pct must be in (-1, 1), got {spec.spot_premium_pct}")
    for name in ("daily_subscription_cap", "daily_redemption_cap"):
        value = getattr(spec, name)
        if value is not None:
            _check_positive(name, value)


def _check_positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _check_target_in_range(spec: TokenSpec) -> None:
    # The target must be a level the fund's own rules leave alone; a target beyond a rebalance
    # trigger would rebalance at every price.
    target = spec.target_leverage
    if target > MAX_TARGET_LEVERAGE:
        raise ValueError(f"target_leverage must be at most {MAX_TARGET_LEVERAGE:g}, got {target:g}")
    bounds = (
        ("band_lo", spec.band_lo, target <= (spec.band_lo or 0.0) and spec.band_lo is not None),
        ("band_hi", spec.band_hi, spec.band_hi is not None and target >= spec.band_hi),
        (
            "max_leverage",
            spec.max_leverage,
            spec.max_leverage is not None and target >= spec.max_leverage,
        ),
        ("daily_lo", spec.daily_lo, target < (spec.daily_lo or 0.0)),
        ("daily_hi", spec.daily_hi, spec.daily_hi is not None and target > spec.daily_hi),
    )
    for name, bound, outside in bounds:
        if outside:
            raise ValueError(
                f"target_leverage {target:g} is outside the preset's range: {name} is {bound:g}"
            )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value}")


def seconds_of_day(text: str) -> int:
    """Parse "HH:MM" or "HH:MM:SS" (UTC) into seconds after midnight."""
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"time of day must be HH:MM[:SS], got {text!r}") from None
    if len(numbers) not in (2, 3):
        raise ValueError(f"time of day must be HH:MM[:SS], got {text!r}")
    hours, minutes, seconds = (numbers + [0])[:3]
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60):
        raise ValueError(f"time of day out of range: {text!r}")
    return hours * 3600 + minutes * 60 + seconds


def intraday_rule(spec: TokenSpec) -> Rule:
    """Compose the price-triggered rules of `spec` (checked per the monitoring mode)."""
    rules: list[Rule] = []
    if spec.always_rebalance:
        rules.append(Always())
    if spec.band_lo is not None or spec.band_hi is not None:
        rules.append(Band(spec.band_lo or 0.0, spec.band_hi or math.inf))
    if spec.tolerance is not None:
        rules.append(Tolerance(spec.target_leverage, spec.tolerance))
    if spec.max_leverage is not None:
        rules.append(LeverageAbove(spec.max_leverage))
    if spec.move_trigger_pct is not None:
        rules.append(MoveSinceRebalance(spec.move_trigger_pct, spec.move_adverse_only))
    return AnyOf(tuple(rules))


@dataclass(frozen=True, slots=True)
class QuietZone:
    """Where the intraday rules of a spec stay silent, as plain bounds (the replay hot path).

    At a price where rules are checked (`continuous` monitoring, or a bar close) they do not
    fire iff `lev_lo < |λ| < lev_hi and move_lo < move < move_hi`. Each bound is one of the
    rules' own comparisons, negated, so this is exactly `not intraday_rule(spec).fires(...)`
    and callers may test a price with a few comparisons instead of building a RuleContext.
    `always_rebalance` gives an empty zone.
    """

    continuous: bool
    lev_lo: float
    lev_hi: float
    move_lo: float
    move_hi: float


def quiet_zone(spec: TokenSpec) -> QuietZone:
    """The bounds inside which `intraday_rule(spec)` never fires (see `QuietZone`)."""
    continuous = spec.monitoring == "continuous"
    if spec.always_rebalance:
        return QuietZone(continuous, math.inf, -math.inf, math.inf, -math.inf)
    # |λ| >= 0 always, so -1 stands for "no lower bound" (no band).
    lev_lo, lev_hi = -1.0, math.inf
    if spec.band_lo is not None or spec.band_hi is not None:
        lev_lo, lev_hi = spec.band_lo or 0.0, spec.band_hi or math.inf  # Band: <= lo or >= hi
    if spec.tolerance is not None:
        # Tolerance: <= L − w or >= L + w, the same subtraction and addition as the rule's.
        lev_lo = max(lev_lo, spec.target_leverage - spec.tolerance)
        lev_hi = min(lev_hi, spec.target_leverage + spec.tolerance)
    if spec.max_leverage is not None:
        lev_hi = min(lev_hi, spec.max_leverage)  # LeverageAbove: >= bound
    move_lo, move_hi = -math.inf, math.inf
    threshold = spec.move_trigger_pct
    if threshold is not None:
        # MoveSinceRebalance: |move| >= t; adverse only: -move >= t (long), move >= t (short).
        if not spec.move_adverse_only or spec.leverage > 0:
            move_lo = -threshold
        if not spec.move_adverse_only or spec.leverage < 0:
            move_hi = threshold
    return QuietZone(continuous, lev_lo, lev_hi, move_lo, move_hi)


def in_zone(zone: QuietZone, nav: float, qty: float, price: float, ref: float) -> bool:
    """Whether a fund (NAV and quantity per unit, marked at `price`, last rebalanced at `ref`)
    lies inside `zone`: `walk_quiet`'s test, with the same arithmetic."""
    return (
        nav > 0.0
        and zone.lev_lo < abs(qty * price / nav) < zone.lev_hi
        and zone.move_lo < price / ref - 1 < zone.move_hi
    )


def exit_price(
    zone: QuietZone, nav: float, qty: float, price: float, ref: float, end: float
) -> float:
    """The first price on the continuous move from `price` to `end` where the fund leaves `zone`
    (`end` when rounding hides the crossing).

    Between rebalances the collateral C = N − q·S is constant, so λ(S) = q·S / (C + q·S) is
    monotonic in S while N > 0 and |λ| = B (λ = sign(q)·B) at S = b·C / (q·(1 − b)), b = sign(q)·B;
    the move reaches m at S = ref·(1 + m). The fund starts inside the zone, which is an interval
    of prices, so the nearest bound met on the way is where it leaves.
    """
    collateral = nav - qty * price
    sign = 1.0 if qty > 0 else -1.0
    found: list[float] = []
    for bound in (zone.lev_lo, zone.lev_hi):
        signed = sign * bound
        if qty != 0.0 and 0.0 < bound < math.inf and signed != 1.0:
            found.append(signed * collateral / (qty * (1.0 - signed)))
    found += [ref * (1.0 + m) for m in (zone.move_lo, zone.move_hi) if math.isfinite(m)]
    lo, hi = min(price, end), max(price, end)
    return min((s for s in found if lo <= s <= hi), key=lambda s: abs(s - price), default=end)


def spot_price(spec: TokenSpec, nav: float, buy: bool) -> float:
    """The token's spot price (USDT per unit) for a buyer or a seller: NAV·(1 + premium), plus
    (buy) or minus (sell) half the spread. Assumption: the book trades at a steady premium."""
    half = spec.spot_spread_pct / 2
    return nav * (1 + spec.spot_premium_pct) * (1 + half if buy else 1 - half)


def daily_rule(spec: TokenSpec) -> DailyReset | DailyCheck | None:
    """Build the scheduled rule of `spec`, or None when it has no daily schedule."""
    if spec.daily_time is None:
        return None
    if spec.daily_mode == "reset":
        return DailyReset(spec.daily_time)
    conditions: list[Rule] = []
    if spec.daily_lo is not None or spec.daily_hi is not None:
        conditions.append(OutsideRange(spec.daily_lo or 0.0, spec.daily_hi or math.inf))
    if spec.daily_move_pct is not None:
        conditions.append(MoveAbove(spec.daily_move_pct))
    return DailyCheck(spec.daily_time, AnyOf(tuple(conditions)))


def with_overrides(spec: TokenSpec, overrides: Mapping[str, object]) -> TokenSpec:
    """Return `spec` with fields replaced by name after type coercion; ValueError on any problem."""
    types = {f.name: str(f.type) for f in dataclasses.fields(TokenSpec)}
    changes: dict[str, object] = {}
    for key, raw in overrides.items():
        if key not in types or key in FIXED_FIELDS:
            raise ValueError(f"unknown parameter {key!r} for preset {spec.family!r}")
        try:
            changes[key] = _coerce(types[key], raw)
        except ValueError as exc:
            raise ValueError(f"bad value for {key!r} of preset {spec.family!r}: {exc}") from None
    try:
        return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"preset {spec.family!r}: {exc}") from None


def _coerce(type_text: str, raw: object) -> object:
    optional = type_text.endswith("| None")
    if raw is None or (optional and isinstance(raw, str) and raw.lower() in ("none", "")):
        if optional:
            return None
        raise ValueError("None is not allowed")
    base = type_text.removesuffix(" | None")
    if base == "float":
        return _to_float(raw)
    if base == "bool":
        return _to_bool(raw)
    if isinstance(raw, str):
        return _normalise_time(raw) if raw.count(":") else raw
    raise ValueError(f"expected text, got {raw!r}")


def _to_float(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {raw!r}")
    return value


def _to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError(f"expected true or false, got {raw!r}")


def _normalise_time(raw: str) -> str:
    seconds = seconds_of_day(raw)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
