"""The ccxt client for public swap market data: built without credentials, errors classified.

Only modules of `bot/adapters/ccxt/` import ccxt (ruff TID251 enforces it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ccxt

from bot.adapters.ccxt.retry import RetryLater

# RequestTimeout, ExchangeNotAvailable (and OnMaintenance), RateLimitExceeded and DDoSProtection
# are all ccxt.NetworkError subclasses; they are the transient ones worth retrying.
TRANSIENT: tuple[type[BaseException], ...] = (ccxt.NetworkError,)
# Not a failure of its own: the exchange's Retry-After pause is still running.
QUIET: tuple[type[BaseException], ...] = (ccxt.NetworkError, RetryLater)
# What a poll can hit besides transient errors: exchange errors, and malformed or truncated
# responses that make ccxt's parsers fail (an empty 200 body reaches them as "": AttributeError
# 'str' object has no attribute 'keys'; a list where a dict belongs: IndexError, TypeError).
POLL_ERRORS: tuple[type[BaseException], ...] = (
    ccxt.BaseError,
    RetryLater,
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)
CREDENTIALS = ("apiKey", "secret", "password", "uid", "login", "privateKey", "walletAddress")
SUPPORTED = ("binanceusdm", "bybit", "okx")
# Exchanges whose batched endpoints answer for every listed symbol (hundreds), keyed by the
# market id in "symbol": ccxt would parse every entry before keeping ours (~19 ms for 600).
PARSE_OWN_ENTRIES_ONLY = ("binanceusdm",)


def build_exchange(exchange_id: str, api_url: str | None, timeout_ms: int, rate_limit: bool) -> Any:
    """A ccxt exchange for public swap market data, without credentials.

    `api_url` replaces the scheme and host of every REST URL (paths kept), e.g. the sim
    exchange `http://127.0.0.1:PORT` gives `.../fapi/v1`, `.../fapi/v2` for binanceusdm."""
    if exchange_id not in SUPPORTED:  # ccxt has ~100 more; their swap markets are untested
        raise ValueError(f"unsupported exchange {exchange_id!r} (one of {', '.join(SUPPORTED)})")
    config = {
        "enableRateLimit": rate_limit,
        # Keep the raw and parsed bodies of the last response: a 200 whose body is not JSON
        # (truncated, an HTML error page) is detected by comparing them.
        "enableLastHttpResponse": True,
        "enableLastJsonResponse": True,
        "timeout": timeout_ms,
        "options": {"defaultType": "swap", "fetchCurrencies": False},
    }
    exchange = getattr(ccxt, exchange_id)(config)
    for key in CREDENTIALS:  # paper mode: no keys ever, even if the environment has some
        if getattr(exchange, key, None):
            setattr(exchange, key, "")
    if api_url is not None:
        _override_urls(exchange.urls["api"], api_url.rstrip("/"))
    return exchange


def _override_urls(urls: dict[str, Any], base: str) -> None:
    for key, value in urls.items():
        if isinstance(value, str):
            urls[key] = re.sub(r"^https?://[^/]+", base, value)
        elif isinstance(value, dict):
            _override_urls(value, base)


def check_markets(exchange: Any, exchange_id: str, symbols: Sequence[str]) -> None:
    """Check that every symbol is a listed swap market (ValueError if not); on exchanges in
    `PARSE_OWN_ENTRIES_ONLY`, make the batched parsers skip other markets' entries."""
    markets = exchange.markets or {}
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            raise ValueError(f"{exchange_id} has no market {symbol!r}")
        if not market.get("swap"):
            raise ValueError(f"{symbol!r} on {exchange_id} is not a perpetual swap")
    if exchange_id in PARSE_OWN_ENTRIES_ONLY:
        ids = {str(markets[s]["id"]) for s in symbols}
        for name in ("parse_funding_rates", "parse_last_prices", "parse_tickers"):
            original = getattr(type(exchange), name).__get__(exchange)
            setattr(exchange, name, functools.partial(_parse_entries_of, ids, original))


def _parse_entries_of(
    ids: set[str], parse: Callable[..., Any], response: Any, *args: Any, **kwargs: Any
) -> Any:
    """ccxt's `parse_funding_rates`/`parse_last_prices`/`parse_tickers` over only the entries of
    our markets: the same result (ccxt drops the others after parsing them), less CPU."""
    if isinstance(response, list):
        response = [e for e in response if isinstance(e, Mapping) and e.get("symbol") in ids]
    return parse(response, *args, **kwargs)
