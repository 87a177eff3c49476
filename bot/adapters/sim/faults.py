"""Fault injection for the sim exchange: what can go wrong on one endpoint, and for how long.

An endpoint is named by its path after `/fapi/vN/` (`premiumIndex`, `ticker/price`), by that
path's last segment (`price`, `bookTicker`, `24hr`), or `*` for every endpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# fault name -> (parameter, default)
FAULTS: dict[str, tuple[str | None, float | None]] = {
    "delay": ("seconds", 1.0),  # answer normally after a pause
    "timeout": ("seconds", 5.0),  # hold the request, then drop the connection without an answer
    "rate_limit": ("retry_after", 1.0),  # HTTP 429 + Retry-After header, Binance code -1003
    "server_error": ("status", 503.0),  # HTTP 5xx (500..599) with a plain-text body
    "malformed_json": (None, None),  # HTTP 200, truncated JSON body
    "missing_fields": (None, None),  # HTTP 200, price fields (and kline OHLC) removed
    "stale": ("seconds", 60.0),  # data as of now - seconds (timestamps too)
    "spike": ("factor", 10.0),  # every price multiplied by factor
}
MAX_HOLD_SECONDS = 30.0  # upper bound of delay/timeout, so a test can never hang for long
PRICE_KEYS = frozenset(
    {
        "markPrice",
        "indexPrice",
        "estimatedSettlePrice",
        "price",
        "lastPrice",
        "bidPrice",
        "askPrice",
        "openPrice",
        "highPrice",
        "lowPrice",
        "prevClosePrice",
        "weightedAvgPrice",
    }
)
DROPPED_KEYS = PRICE_KEYS | {"lastFundingRate", "fundingRate", "symbols", "serverTime"}


@dataclass
class Fault:
    """One injected fault: applies to the next `remaining` matching requests (None = forever)."""

    endpoint: str
    kind: str
    value: float | None
    remaining: int | None

    def matches(self, endpoint: str) -> bool:
        """Whether the fault applies to `endpoint` (a path such as `ticker/price`)."""
        return self.endpoint in ("*", endpoint, endpoint.rsplit("/", 1)[-1])


@dataclass
class FaultBook:
    """Thread-safe list of active faults."""

    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, kind: str, count: int | None, params: dict[str, Any]) -> None:
        """Add a fault; raise ValueError on an unknown fault, parameter or count."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        name, default = FAULTS[kind]
        unknown = set(params) - ({name} if name else set())
        if unknown:
            raise ValueError(f"fault {kind!r} takes no parameter {', '.join(sorted(unknown))}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None (until cleared)")
        value = float(params[name]) if name and name in params else default
        if kind == "server_error" and value is not None and not 500 <= value <= 599:
            raise ValueError("server_error status must be 500..599")
        if kind in ("delay", "timeout") and value is not None:
            value = min(max(value, 0.0), MAX_HOLD_SECONDS)
        with self._lock:
            self._faults.append(Fault(endpoint.strip("/"), kind, value, count))

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str) -> list[Fault]:
        """The faults that apply to one request to `endpoint`, consuming one use of each."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint):
                    taken.append(fault)
                    if fault.remaining is not None:
                        fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return taken


def spike(payload: Any, factor: float, kline: bool) -> Any:
    """`payload` with every price multiplied by `factor` (kline rows: open/high/low/close)."""
    if kline and isinstance(payload, list):
        return [
            [*row[:1], *(_scale(x, factor) for x in row[1:5]), *row[5:]]
            if isinstance(row, list)
            else row
            for row in payload
        ]
    if isinstance(payload, list):
        return [spike(item, factor, kline) for item in payload]
    if isinstance(payload, dict):
        return {
            k: _scale(v, factor) if k in PRICE_KEYS else spike(v, factor, kline)
            for k, v in payload.items()
        }
    return payload


def drop_fields(payload: Any, kline: bool) -> Any:
    """`payload` without price fields (kline rows cut to open time and open price)."""
    if kline and isinstance(payload, list):
        return [row[:2] if isinstance(row, list) else row for row in payload]
    if isinstance(payload, list):
        return [drop_fields(item, kline) for item in payload]
    if isinstance(payload, dict):
        return {k: drop_fields(v, kline) for k, v in payload.items() if k not in DROPPED_KEYS}
    return payload


def _scale(value: Any, factor: float) -> Any:
    try:
        scaled = float(value) * factor
    except (TypeError, ValueError):
        return value
    return fmt(scaled) if isinstance(value, str) else scaled


def fmt(value: float, decimals: int = 8) -> str:
    """A price or rate as Binance writes it: a decimal string, never scientific notation."""
    text = f"{value:.{decimals}f}"
    return text
