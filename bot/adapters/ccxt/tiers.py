"""Maintenance-margin tiers for the liquidation model: bundled offline, or from ccxt when live.

Both sources arrive in ccxt's `fetch_leverage_tiers()` shape:
`{symbol: [{"minNotional", "maxNotional", "maintenanceMarginRate", "maxLeverage", "info"}]}`,
where Binance's raw bracket in `info` carries the maintenance amount `cum`. This module turns
them into domain `Tier` values; it does no I/O besides reading the bundled package file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from bot.domain.liquidation import Tier, cumulative_amounts, validate_tiers

BUNDLED_TIERS = "leverage_tiers_binance_btc_eth.json"


def tiers_from_ccxt(entries: Sequence[Mapping[str, Any]]) -> tuple[Tier, ...]:
    """Convert one symbol's ccxt leverage tiers to domain tiers (sorted by notional floor).

    `cum` comes from Binance's `info.cum`; when absent it is derived from the floors and rates
    (cum_n = floor_n x (MMR_n - MMR_n-1) + cum_n-1, MECHANICS §9).
    """
    if not entries:
        raise ValueError("no leverage tiers")
    rows = sorted(entries, key=lambda e: float(e["minNotional"]))
    floors = [float(e["minNotional"]) for e in rows]
    mmrs = [float(e["maintenanceMarginRate"]) for e in rows]
    derived = cumulative_amounts(floors, mmrs)
    tiers = [
        Tier(
            floor=floors[n],
            cap=float(e["maxNotional"]),
            mmr=mmrs[n],
            cum=_cum(e, derived[n]),
            max_leverage=float(e["maxLeverage"]),
        )
        for n, e in enumerate(rows)
    ]
    return validate_tiers(tiers)


def _cum(entry: Mapping[str, Any], derived: float) -> float:
    info = entry.get("info")
    if isinstance(info, Mapping) and info.get("cum") is not None:
        return float(info["cum"])
    return derived


def all_tiers_from_ccxt(
    tiers: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, tuple[Tier, ...]]:
    """Convert a whole `fetch_leverage_tiers()` result, keyed by ccxt symbol."""
    return {symbol: tiers_from_ccxt(entries) for symbol, entries in tiers.items()}


def bundled_tiers() -> dict[str, tuple[Tier, ...]]:
    """The bundled Binance USDⓈ-M tiers for BTC/USDT:USDT and ETH/USDT:USDT (2026-05-07)."""
    text = resources.files("bot").joinpath("data", BUNDLED_TIERS).read_text(encoding="utf-8")
    return all_tiers_from_ccxt(json.loads(text))


def tiers_for(symbol: str, live: Mapping[str, Sequence[Tier]] | None = None) -> tuple[Tier, ...]:
    """Tiers for `symbol`: from `live` (ccxt) when it has them, else the bundled ones.

    Raises ValueError for a symbol with neither (pass live tiers for other markets).
    """
    if live is not None and symbol in live:
        return tuple(live[symbol])
    bundled = bundled_tiers()
    if symbol not in bundled:
        raise ValueError(f"no leverage tiers for {symbol!r} (bundled: {', '.join(bundled)})")
    return bundled[symbol]
