"""Quotes for every symbol from the exchange's batched endpoints (one request each, whatever
the number of symbols), falling back to one request per symbol where there is no batch."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.adapters.ccxt.parse import build_quote
from bot.domain.values import Quote

# Runs one exchange call with the feed's retries and checks (`CcxtFeed._call`).
Call = Callable[[Callable[[], Any], str], Any]


def fetch_quotes(exchange: Any, symbols: Sequence[str], at: datetime, call: Call) -> list[Quote]:
    """One quote per symbol that has a last price, from batched calls where available."""
    has, symbols = exchange.has, list(symbols)  # ccxt's filters want a list, not a tuple
    rates = _batched(exchange, call, "fetchFundingRates", "fetchFundingRate", symbols)
    if has.get("fetchLastPrices") is True and has.get("fetchBidsAsks") is True:
        # Binance: ticker/price (weight 2) + bookTicker (5) instead of ticker/24hr (40),
        # whose futures variant has no bid/ask anyway.
        tickers = [
            _batched(exchange, call, "fetchLastPrices", None, symbols),
            _batched(exchange, call, "fetchBidsAsks", None, symbols),
        ]
    else:
        tickers = [_batched(exchange, call, "fetchTickers", "fetchTicker", symbols)]
    lacking = [s for s in symbols if not _has_mark(s, rates, tickers)]
    if lacking and has.get("fetchMarkPrices"):
        tickers.append(_batched(exchange, call, "fetchMarkPrices", None, lacking))
    quotes = []
    for symbol in symbols:
        sources = [t[symbol] for t in tickers if isinstance(t.get(symbol), Mapping)]
        rate = rates.get(symbol) if isinstance(rates.get(symbol), Mapping) else None
        quote = build_quote(symbol, at, sources, rate)
        if quote is not None:
            quotes.append(quote)
    return quotes


def _batched(
    exchange: Any,
    call: Call,
    batch: str,
    single: str | None,
    symbols: list[str],
) -> dict[str, Any]:
    # The batch method when the exchange has one, else the single one per symbol, else none.
    has = exchange.has
    if has.get(batch):
        method = getattr(exchange, _snake(batch))
        result = call(lambda: method(symbols), _snake(batch))
        return dict(result or {})
    if single is None or not has.get(single):
        return {}
    one = getattr(exchange, _snake(single))
    return {s: call(_bind(one, s), _snake(single)) for s in symbols}


def _bind(method: Callable[[str], Any], symbol: str) -> Callable[[], Any]:
    return lambda: method(symbol)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _has_mark(symbol: str, rates: Mapping[str, Any], tickers: list[dict[str, Any]]) -> bool:
    sources = [rates.get(symbol), *(t.get(symbol) for t in tickers)]
    return any(isinstance(s, Mapping) and s.get("markPrice") is not None for s in sources)
