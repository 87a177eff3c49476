"""Binance USDⓈ-M public REST payloads built from recorded data at one simulated instant.

Each route takes the loaded data, the simulated time `at_ms` (epoch ms) and the query string,
and returns `(HTTP status, JSON payload)`. Field names and string formatting follow Binance
(`/fapi/v1/...`); the values come from the recorded candles with these assumptions:

- last price: close of the latest finest candle closed at or before `at_ms` (at the start of
  the data or after a gap, the open of the candle in progress) - see `CandleSeries.price_at`;
- mark price: with mark candles coarser than the last-trade ones (the usual 1 h next to 5 m),
  last price times the basis (mark / last) of the latest recorded mark candle closed at or
  before `at_ms` - so it equals the recorded mark close on the hour; with mark candles as fine,
  the same rule as last on the mark candles; without mark data, the last price
  (`SymbolData.mark_at`). Mark klines finer than the mark data are last-trade klines times that
  basis;
- index price and estimated settle price: equal to the mark price (no index data recorded);
- bid / ask: a one-tick spread centred on the last price (tick from exchangeInfo PRICE_FILTER),
  quantity 1 on each side; no depth data is recorded;
- lastFundingRate: the recorded *settled* rate of the next settlement (a stand-in for
  Binance's predicted rate, which converges to it), interestRate 0.0001 as on Binance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bot.adapters.sim.data import INTERVAL_MS, Bar, CandleSeries, SymbolData
from bot.adapters.sim.faults import fmt

Payload = Any
Route = Callable[["MarketView", int, Mapping[str, str]], tuple[int, Payload]]
DAY_MS = 24 * 3600 * 1000
KLINES_DEFAULT, KLINES_MAX = 500, 1500
FUNDING_DEFAULT, FUNDING_MAX = 100, 1000


class BadRequest(Exception):
    """A request Binance would reject with HTTP 400 and a `{code, msg}` body."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class MarketView:
    """The loaded data plus the exchangeInfo document and per-symbol tick sizes."""

    def __init__(self, data: Mapping[str, SymbolData], exchange_info: dict[str, Any]) -> None:
        self.data = data
        self.exchange_info = exchange_info
        self.ticks: dict[str, float] = {}
        for entry in exchange_info.get("symbols", []):
            for filt in entry.get("filters", []):
                if filt.get("filterType") == "PRICE_FILTER":
                    self.ticks[str(entry.get("symbol"))] = float(filt.get("tickSize", 0.0))

    def symbol(self, query: Mapping[str, str], required: bool = True) -> SymbolData | None:
        """The symbol named in the query; BadRequest when unknown (or missing and required)."""
        name = query.get("symbol") or query.get("pair")
        if not name:
            if required:
                raise BadRequest(
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                )
            return None
        if name not in self.data:
            raise BadRequest(-1121, "Invalid symbol.")
        return self.data[name]

    def targets(self, query: Mapping[str, str]) -> list[SymbolData]:
        """The named symbol, or every symbol when none is named."""
        one = self.symbol(query, required=False)
        return [one] if one is not None else list(self.data.values())

    def last(self, sym: SymbolData, at_ms: int) -> float | None:
        """Last trade price at `at_ms`, None before the data starts."""
        return sym.last.price_at(at_ms)

    def mark(self, sym: SymbolData, at_ms: int) -> float | None:
        """Mark price at `at_ms` (see the module docstring), None before the data starts."""
        return sym.mark_at(at_ms)


def _int(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(-1100, f"Illegal characters found in parameter '{key}'.") from None


def _limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    limit = _int(query, "limit")
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise BadRequest(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def ping(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/ping."""
    return 200, {}


def server_time(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/time: the simulated clock."""
    return 200, {"serverTime": at_ms}


def exchange_info(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/exchangeInfo: the recorded snapshot verbatim, serverTime = simulated now."""
    return 200, {**view.exchange_info, "serverTime": at_ms}


def premium_index(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/premiumIndex: mark, index, funding rate of the next settlement."""
    rows = []
    for sym in view.targets(query):
        mark = view.mark(sym, at_ms)
        if mark is None:
            continue
        settle = sym.next_funding_ms(at_ms)
        rows.append(
            {
                "symbol": sym.symbol,
                "markPrice": fmt(mark),
                "indexPrice": fmt(mark),
                "estimatedSettlePrice": fmt(mark),
                "lastFundingRate": fmt(sym.funding_rate_for(settle)),
                "interestRate": "0.00010000",
                "nextFundingTime": settle,
                "time": at_ms,
            }
        )
    return _one_or_all(query, rows)


def ticker_price(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/ticker/price (and /fapi/v2/ticker/price)."""
    rows = [
        {"symbol": sym.symbol, "price": fmt(last), "time": at_ms}
        for sym in view.targets(query)
        if (last := view.last(sym, at_ms)) is not None
    ]
    return _one_or_all(query, rows)


def book_ticker(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/ticker/bookTicker: a one-tick spread centred on the last price."""
    rows = []
    for sym in view.targets(query):
        last = view.last(sym, at_ms)
        if last is None:
            continue
        # Assumption (no depth recorded): bid/ask = last -/+ half a tick, quantity 1 each side.
        half = view.ticks.get(sym.symbol, 0.0) / 2
        rows.append(
            {
                "symbol": sym.symbol,
                "bidPrice": fmt(last - half),
                "bidQty": "1.000",
                "askPrice": fmt(last + half),
                "askQty": "1.000",
                "time": at_ms,
                "lastUpdateId": at_ms,
            }
        )
    return _one_or_all(query, rows)


def ticker_24hr(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/ticker/24hr: statistics over the finest candles of the last 24 h."""
    rows = []
    for sym in view.targets(query):
        last = view.last(sym, at_ms)
        if last is None:
            continue
        bars = sym.last.bars(sym.last.finest.tf_ms, at_ms, at_ms - DAY_MS, None, 10**9)
        first = view.last(sym, at_ms - DAY_MS) or (bars[0].o if bars else last)
        high = max([b.h for b in bars] + [last])
        low = min([b.low for b in bars] + [last])
        volume = sum(b.v for b in bars)
        # Assumption: quote volume ~ sum(volume x close) per finest candle; trade counts unknown.
        quote = sum(b.v * b.c for b in bars)
        rows.append(
            {
                "symbol": sym.symbol,
                "priceChange": fmt(last - first),
                "priceChangePercent": f"{(last / first - 1) * 100:.3f}",
                "weightedAvgPrice": fmt(quote / volume if volume else last),
                "lastPrice": fmt(last),
                "lastQty": "0.001",
                "openPrice": fmt(first),
                "highPrice": fmt(high),
                "lowPrice": fmt(low),
                "volume": fmt(volume, 3),
                "quoteVolume": fmt(quote, 2),
                "openTime": at_ms - DAY_MS,
                "closeTime": at_ms,
                "firstId": 0,
                "lastId": 0,
                "count": 0,
            }
        )
    return _one_or_all(query, rows)


def klines(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/klines: last-trade candles (closed ones plus the one in progress)."""
    sym = view.symbol(query)
    assert sym is not None  # required=True
    return 200, _klines(sym.last, at_ms, query)


def mark_klines(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/markPriceKlines (also indexPriceKlines: index = mark, see module doc)."""
    sym = view.symbol(query)
    assert sym is not None
    return 200, _klines(sym.mark, at_ms, query, mark=True)


def funding_rate(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/fundingRate: settled rates up to now, ascending, like Binance.

    With startTime the first `limit` rates from it; otherwise the last `limit` up to endTime.
    """
    start, end = _int(query, "startTime"), _int(query, "endTime")
    limit = _limit(query, FUNDING_DEFAULT, FUNDING_MAX)
    stop = at_ms if end is None else min(end, at_ms)
    rows = []
    for sym in view.targets(query):
        lo = 0 if start is None else int(np.searchsorted(sym.funding_ms, start, side="left"))
        hi = int(np.searchsorted(sym.funding_ms, stop, side="right"))
        picked = (
            range(lo, min(hi, lo + limit)) if start is not None else range(max(lo, hi - limit), hi)
        )
        for i in picked:
            at = int(sym.funding_ms[i])
            mark = view.mark(sym, at)
            rows.append(
                {
                    "symbol": sym.symbol,
                    "fundingTime": at,
                    "fundingRate": fmt(float(sym.funding_rate[i])),
                    "markPrice": fmt(mark) if mark is not None else "",
                }
            )
    rows.sort(key=lambda row: (row["fundingTime"], row["symbol"]))
    return 200, rows[:limit] if start is not None else rows[-limit:]


def funding_info(view: MarketView, at_ms: int, query: Mapping[str, str]) -> tuple[int, Payload]:
    """GET /fapi/v1/fundingInfo: the funding interval of every symbol (hours)."""
    return 200, [
        {
            "symbol": sym.symbol,
            "adjustedFundingRateCap": "0.02000000",
            "adjustedFundingRateFloor": "-0.02000000",
            "fundingIntervalHours": sym.funding_interval_ms // 3_600_000,
            "disclaimer": False,
        }
        for sym in view.data.values()
    ]


def _one_or_all(query: Mapping[str, str], rows: list[dict[str, Any]]) -> tuple[int, Payload]:
    if query.get("symbol"):
        return 200, rows[0] if rows else {}
    return 200, rows


def _klines(
    series: CandleSeries, at_ms: int, query: Mapping[str, str], mark: bool = False
) -> list[list[Any]]:
    interval = query.get("interval")
    if not interval:
        raise BadRequest(
            -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
        )
    tf_ms = INTERVAL_MS.get(interval)
    if tf_ms is None or tf_ms not in series.by_tf:
        raise BadRequest(-1120, "Invalid interval.")
    limit = _limit(query, KLINES_DEFAULT, KLINES_MAX)
    bars = series.bars(tf_ms, at_ms, _int(query, "startTime"), _int(query, "endTime"), limit)
    return [_kline_row(b, tf_ms, mark) for b in bars]


def _kline_row(bar: Bar, tf_ms: int, mark: bool) -> list[Any]:
    # Binance layout: open time, O, H, L, C, volume, close time, quote volume, trades,
    # taker buy base, taker buy quote, ignore. Mark klines carry zero volumes.
    volume = 0.0 if mark else bar.v
    return [
        bar.open_ms,
        fmt(bar.o),
        fmt(bar.h),
        fmt(bar.low),
        fmt(bar.c),
        fmt(volume, 3),
        bar.open_ms + tf_ms - 1,
        fmt(volume * bar.c, 4),  # assumption: quote volume ~ volume x close
        0,
        "0",
        "0",
        "0",
    ]


ROUTES: dict[str, Route] = {
    "ping": ping,
    "time": server_time,
    "exchangeInfo": exchange_info,
    "premiumIndex": premium_index,
    "ticker/price": ticker_price,
    "ticker/bookTicker": book_ticker,
    "ticker/24hr": ticker_24hr,
    "klines": klines,
    "markPriceKlines": mark_klines,
    "indexPriceKlines": mark_klines,
    "fundingRate": funding_rate,
    "fundingInfo": funding_info,
}
KLINE_ROUTES = frozenset({"klines", "markPriceKlines", "indexPriceKlines"})
