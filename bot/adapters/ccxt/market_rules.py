"""Market rules (lot step, minimum notional, fees) from ccxt market info, with offline defaults.

ccxt markets are loose dicts; they are converted here, outside the domain, into
`bot.domain.sizing.MarketRules`. Offline (a replay, or a market ccxt did not load), a USDⓈ-M
perpetual's rules come from the bundled `GET /fapi/v1/exchangeInfo` snapshot of 2025-12-24
(every Binance USDⓈ-M symbol of that day, bot/data/README.md); anything else falls back to the
documented defaults of `bot.domain.sizing.default_rules`.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from bot.domain.sizing import MarketRules, default_rules

BUNDLED_EXCHANGE_INFO = "exchange_info_binance_fapi_2025-12-24.json.gz"


def rules_from_ccxt_market(market: Mapping[str, Any]) -> MarketRules:
    """Convert one ccxt market (`exchange.markets[symbol]`) into MarketRules.

    Reads `precision.amount` (the lot step: ccxt's default TICK_SIZE precision mode gives a
    step such as 0.001), `limits.cost.min` (minimum notional, USDT), `taker` and `maker`, and
    the raw exchangeInfo field `liquidationFee` (Binance USDⓈ-M: the insurance clearance fee
    rate of a liquidation) from `info`.
    """
    fallback = default_rules(str(market.get("symbol", "")))
    precision = market.get("precision") or {}
    limits = (market.get("limits") or {}).get("cost") or {}
    return MarketRules(
        lot_step=_number(precision.get("amount"), fallback.lot_step),
        min_notional=_number(limits.get("min"), fallback.min_notional),
        taker_fee=_number(market.get("taker"), fallback.taker_fee),
        maker_fee=_number(market.get("maker"), fallback.maker_fee),
        liquidation_fee=_number(
            (market.get("info") or {}).get("liquidationFee"), fallback.liquidation_fee
        ),
    )


def rules_from_exchange_info(symbol: str, entry: Mapping[str, Any]) -> MarketRules:
    """Convert one raw Binance USDⓈ-M exchangeInfo `symbols` entry into MarketRules.

    Lot step: `MARKET_LOT_SIZE.stepSize` (the simulated orders are market orders), else
    `LOT_SIZE.stepSize`; minimum notional: `MIN_NOTIONAL.notional`; `liquidationFee`. Fees are
    not in exchangeInfo: the offline VIP0 defaults (MECHANICS §9).
    """
    fallback = default_rules(symbol)
    filters = {
        str(f.get("filterType")): f for f in entry.get("filters") or [] if isinstance(f, Mapping)
    }
    lot = filters.get("MARKET_LOT_SIZE") or filters.get("LOT_SIZE") or {}
    return MarketRules(
        lot_step=_number(lot.get("stepSize"), fallback.lot_step),
        min_notional=_number(
            filters.get("MIN_NOTIONAL", {}).get("notional"), fallback.min_notional
        ),
        taker_fee=fallback.taker_fee,
        maker_fee=fallback.maker_fee,
        liquidation_fee=_number(entry.get("liquidationFee"), fallback.liquidation_fee),
    )


def _number(value: Any, fallback: float) -> float:
    if value is None or isinstance(value, bool):
        return fallback
    try:
        return float(value)
    except (TypeError, ValueError):
        return fallback


@functools.cache
def bundled_exchange_info() -> dict[str, Any]:
    """The bundled Binance USDⓈ-M exchangeInfo document (read once per process)."""
    data = resources.files("bot").joinpath("data", BUNDLED_EXCHANGE_INFO).read_bytes()
    info: dict[str, Any] = json.loads(gzip.decompress(data))
    return info


@functools.cache
def bundled_perpetuals() -> dict[str, dict[str, Any]]:
    """The bundled exchangeInfo's perpetual entries by ccxt symbol (`SOL/USDT:USDT`)."""
    return {
        f"{e['baseAsset']}/{e['quoteAsset']}:{e['marginAsset']}": e
        for e in bundled_exchange_info()["symbols"]
        if e.get("contractType") == "PERPETUAL"
    }


def rules_for(symbol: str, markets: Mapping[str, Mapping[str, Any]] | None = None) -> MarketRules:
    """Rules for `symbol` from loaded ccxt markets when available, else from the bundled
    exchangeInfo (perpetuals), else the offline defaults."""
    if markets is not None and symbol in markets:
        return rules_from_ccxt_market(markets[symbol])
    entry = bundled_perpetuals().get(symbol)
    if entry is not None:
        return rules_from_exchange_info(symbol, entry)
    return default_rules(symbol)
