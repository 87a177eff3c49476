"""Maintenance-margin tiers for the liquidation model: bundled offline, or from ccxt when live.

Both sources arrive in ccxt's `fetch_leverage_tiers()` shape:
`{symbol: [{"minNotional", "maxNotional", "maintenanceMarginRate", "maxLeverage", "info"}]}`,
where Binance's raw bracket in `info` carries the maintenance amount `cum`. This module turns
them into domain `Tier` values; it does no I/O besides reading the bundled package file.

The bundled snapshot covers every Binance USDⓈ-M symbol of 2026-05-07 (719, bot/data/README.md).
Binance serves brackets only to signed requests (`GET /fapi/v1/leverageBracket`), so a paper
run with no API keys uses this snapshot; its age is checked by `snapshot_age_warning`.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any

from bot.domain.liquidation import Tier, cumulative_amounts, validate_tiers

BUNDLED_TIERS = "leverage_tiers_binance_usdm_2026-05-07.json.gz"
# The day freqtrade's upstream commit dc4384de refreshed the brackets (bot/data/README.md).
SNAPSHOT_DATE = datetime(2026, 5, 7, tzinfo=UTC)


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


@functools.cache
def bundled_tiers() -> Mapping[str, tuple[Tier, ...]]:
    """The bundled Binance USDⓈ-M tiers of every symbol in the 2026-05-07 snapshot (read and
    converted once per process: 80 KB of gzip, 719 symbols)."""
    data = resources.files("bot").joinpath("data", BUNDLED_TIERS).read_bytes()
    return MappingProxyType(all_tiers_from_ccxt(json.loads(gzip.decompress(data))))


def tiers_for(symbol: str, live: Mapping[str, Sequence[Tier]] | None = None) -> tuple[Tier, ...]:
    """Tiers for `symbol`: from `live` (ccxt) when it has them, else the bundled ones.

    Raises ValueError for a symbol with neither (one listed after the snapshot, or not a
    Binance USDⓈ-M symbol).
    """
    if live is not None and symbol in live:
        return tuple(live[symbol])
    bundled = bundled_tiers()
    if symbol not in bundled:
        raise ValueError(
            f"no leverage tiers for {symbol!r}: not in the bundled Binance USDⓈ-M snapshot "
            f"of {SNAPSHOT_DATE:%Y-%m-%d} ({len(bundled)} symbols)"
        )
    return bundled[symbol]


def snapshot_age_warning(now: datetime, max_age_days: float) -> str | None:
    """The warning to log when the bundled snapshot is older than `max_age_days` at `now`."""
    age = now - SNAPSHOT_DATE
    if age.total_seconds() <= max_age_days * 86_400:
        return None
    return (
        f"the bundled leverage tiers date from {SNAPSHOT_DATE:%Y-%m-%d}, {age.days} days "
        f"before {now:%Y-%m-%d} (more than exchange.tiers_max_age_days = {max_age_days:g}): "
        "Binance changes its brackets from time to time, so liquidation prices may be off; "
        "a newer ltbot release bundles newer tiers"
    )
