"""The perp vehicles' parameters (`perp`, `perp_static`), checked and coerced from config.

Kept apart from `bot.domain.perp` so that the compiled build (`make compile`, bot/native.py)
leaves them plain Python: config values may come as text ("0.02", "true", "0.01..0.1") and must
get the clear errors below, where compiled code would first raise a bare TypeError for a text
in a float field. `bot.domain.perp` re-exports every name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

STOP_TRIGGERS = ("last", "mark")


def _number(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    return parse_number(name, value)


def parse_number(name: str, value: Any) -> float:
    """A finite number from a config value (number or text); ValueError naming `name`."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _bounds(value: Any) -> tuple[float, float]:
    # From config: a pair, or the text "low..high" (commas separate vehicle parameters).
    parts = value.split("..") if isinstance(value, str) else value
    message = f"risk_bounds must be two numbers like 0.01..0.1, got {value!r}"
    try:
        low, high = (float(_number("risk_bounds", p) or 0.0) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"risk_bounds must satisfy 0 < low <= high < 1, got {value!r}")
    return (low, high)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class PerpParams:
    """The `perp` vehicle: a risk-sized isolated position with a stop-loss.

    risk_pct: fraction of equity lost when the stop fills (0.02 = 2 %); must lie in risk_bounds.
    risk_bounds: the allowed risk_pct range, (0.02, 0.05) unless widened on purpose; from config
        as "low..high".
    max_leverage: cap on the notional, as a multiple of equity (notional <= max_leverage x equity).
    leverage: the isolated leverage setting (margin = notional / leverage); None = the smallest
        whole leverage whose margin fits in equity.
    fee_aware: size with fees and slippage inside the risk (§10 fee-aware variant), so a stop-out
        loses exactly risk_pct; False = plain |entry - stop| sizing.
    stop_trigger: "last" or "mark": the price that triggers stop, take-profit and trailing stop.
    slippage_bps: adverse slippage of each market fill, in basis points of the price.
    taker_fee: fee fraction per fill; None = the market's taker fee (0.0005 offline).
    liquidation_buffer: fraction of |entry - LP| by which the stop must stay inside LP (§9).
    trailing_pct: trailing-stop distance as a fraction of the best price since entry; None = off.
    """

    risk_pct: float = 0.02
    risk_bounds: tuple[float, float] = (0.02, 0.05)
    max_leverage: float = 10.0
    leverage: float | None = None
    fee_aware: bool = True
    stop_trigger: str = "last"
    slippage_bps: float = 2.0
    taker_fee: float | None = None
    liquidation_buffer: float = 0.05
    trailing_pct: float | None = None

    def __post_init__(self) -> None:
        _set(self, "risk_bounds", _bounds(self.risk_bounds))
        _set(self, "fee_aware", _flag("fee_aware", self.fee_aware))
        for name in ("risk_pct", "max_leverage", "slippage_bps", "liquidation_buffer"):
            _set(self, name, _number(name, getattr(self, name)))
        for name in ("leverage", "taker_fee", "trailing_pct"):
            _set(self, name, _number(name, getattr(self, name), allow_none=True))
        low, high = self.risk_bounds
        if not low <= self.risk_pct <= high:
            raise ValueError(f"risk_pct must be in [{low}, {high}], got {self.risk_pct}")
        _check_common(self.stop_trigger, self.slippage_bps, self.taker_fee)
        _check_leverage(self.max_leverage, self.leverage)
        if not 0.0 <= self.liquidation_buffer < 1.0:
            raise ValueError(f"liquidation_buffer must be in [0, 1), got {self.liquidation_buffer}")
        if self.trailing_pct is not None and not 0.0 < self.trailing_pct < 1.0:
            raise ValueError(f"trailing_pct must be in (0, 1), got {self.trailing_pct}")


@dataclass(frozen=True, slots=True)
class StaticPerpParams:
    """The `perp_static` vehicle: a fixed-leverage isolated position without stop.

    leverage: notional = leverage x equity at entry; isolated margin = equity (no rebalancing,
        so the real leverage drifts with the price).
    slippage_bps: adverse slippage of each market fill, in basis points of the price.
    taker_fee: fee fraction per fill; None = the market's taker fee (0.0005 offline).
    """

    leverage: float = 3.0
    slippage_bps: float = 2.0
    taker_fee: float | None = None

    def __post_init__(self) -> None:
        _set(self, "leverage", _number("leverage", self.leverage))
        _set(self, "slippage_bps", _number("slippage_bps", self.slippage_bps))
        _set(self, "taker_fee", _number("taker_fee", self.taker_fee, allow_none=True))
        _check_common("last", self.slippage_bps, self.taker_fee)
        if not 1.0 <= self.leverage <= 125.0:
            raise ValueError(f"leverage must be in [1, 125], got {self.leverage}")


def _check_common(stop_trigger: str, slippage_bps: float, taker_fee: float | None) -> None:
    if stop_trigger not in STOP_TRIGGERS:
        raise ValueError(f"stop_trigger must be 'last' or 'mark', got {stop_trigger!r}")
    if not 0.0 <= slippage_bps < 1000.0:
        raise ValueError(f"slippage_bps must be in [0, 1000), got {slippage_bps}")
    if taker_fee is not None and not 0.0 <= taker_fee < 0.1:
        raise ValueError(f"taker_fee must be a fraction in [0, 0.1), got {taker_fee}")


def _check_leverage(max_leverage: float, leverage: float | None) -> None:
    if not 1.0 <= max_leverage <= 125.0:
        raise ValueError(f"max_leverage must be in [1, 125], got {max_leverage}")
    if leverage is not None and not 1.0 <= leverage <= max_leverage:
        raise ValueError(f"leverage must be in [1, max_leverage={max_leverage}], got {leverage}")
