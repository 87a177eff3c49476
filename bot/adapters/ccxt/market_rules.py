"""Market rules (lot step, minimum notional, fees) from ccxt market info, with offline defaults.

ccxt markets are loose dicts; they are converted here, outside the domain, into
`bot.domain.sizing.MarketRules`. Missing fields fall back to the documented offline defaults
of `bot.domain.sizing.default_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.sizing import MarketRules, default_rules


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


def _number(value: Any, fallback: float) -> float:
    if value is None or isinstance(value, bool):
        return fallback
    try:
        return float(value)
    except (TypeError, ValueError):
        return fallback


def rules_for(symbol: str, markets: Mapping[str, Mapping[str, Any]] | None = None) -> MarketRules:
    """Rules for `symbol` from loaded ccxt markets when available, else the offline defaults."""
    if markets is not None and symbol in markets:
        return rules_from_ccxt_market(markets[symbol])
    return default_rules(symbol)
