"""ccxt structures (loose dicts) to domain values: the boundary where `Any` ends.

ccxt gives epoch milliseconds and floats or None; everything leaving this module is a domain
value with UTC-aware datetimes. A price the exchange did not give stays None (or the quote is
left out when there is no last price), so validation can count it as "missing".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.validation import sound_candle


def from_ms(ms: int | float) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


def to_ms(at: datetime) -> int:
    """An aware datetime to epoch milliseconds."""
    return int(round(at.timestamp() * 1000))


def number(value: Any) -> float | None:
    """A float from a ccxt number or numeric string; None when absent or unparsable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond a float
        return None


# Timestamps outside these bounds (epoch ms, 1970-01-01 .. 2100-01-01) are garbage, not time.
_MIN_MS, _MAX_MS = 0, 4_102_444_800_000


def _ms(value: Any) -> int | None:
    """Epoch milliseconds from a ccxt value; None when absent, unparsable or out of bounds."""
    parsed = number(value)
    if parsed is None or not _MIN_MS <= parsed <= _MAX_MS:  # False for NaN
        return None
    return int(parsed)


def round_to_hour(at: datetime) -> datetime:
    """Nearest whole hour (funding times carry millisecond jitter: 08:00:00.008)."""
    base = at.replace(minute=0, second=0, microsecond=0)
    return base + timedelta(hours=1) if at - base >= timedelta(minutes=30) else base


def build_quote(
    symbol: str,
    at: datetime,
    sources: list[Mapping[str, Any]],
    rate: Mapping[str, Any] | None,
) -> Quote | None:
    """One quote from the ticker-like dicts of a symbol (first non-None value wins per field)
    and its funding-rate structure; None when no last price is known.

    `Quote.at` is the exchange's timestamp of the mark (funding-rate structure) or else of the
    ticker, clamped to `at` (a clock ahead of ours must not put the quote in the future)."""
    every = [*sources, *([rate] if rate else [])]

    def pick(*keys: str) -> float | None:
        for src in every:
            for key in keys:
                value = number(src.get(key))
                if value is not None:
                    return value
        return None

    last = pick("last", "price", "close")
    if last is None:
        return None
    stamps = [_ms(src.get("timestamp")) for src in ([rate] if rate else []) + sources]
    stamp = next((s for s in stamps if s is not None), None)
    quote_at = at if stamp is None else min(at, from_ms(stamp))
    next_ms = None
    if rate is not None:
        next_ms = _ms(rate.get("fundingTimestamp")) or _ms(rate.get("nextFundingTimestamp"))
    return Quote(
        symbol=symbol,
        at=quote_at,
        last=last,
        mark=pick("markPrice"),
        index_price=pick("indexPrice"),
        bid=pick("bid"),
        ask=pick("ask"),
        funding_rate=None if rate is None else number(rate.get("fundingRate")),
        next_funding_at=None if next_ms is None else round_to_hour(from_ms(next_ms)),
    )


def build_candles(symbol: str, timeframe: str, rows: Any) -> list[Candle]:
    """Candles from ccxt OHLCV rows `[ms, o, h, l, c, v]`; a row that is not such a list, has
    a missing or garbage time or price, or prices no path runs through (a high below the open,
    a price <= 0) is dropped (the gap is filled by the next fetch or stays a gap); a volume
    that is not a finite number >= 0 counts as 0."""
    out: list[Candle] = []
    for row in rows if isinstance(rows, list | tuple) else ():
        if not isinstance(row, list | tuple) or len(row) < 6:
            continue
        ms = _ms(row[0])
        prices = [number(v) for v in row[1:5]]
        if ms is None or None in prices:
            continue
        o, h, low, c = (float(p or 0.0) for p in prices)
        volume = number(row[5])
        volume = volume if volume is not None and 0.0 <= volume < math.inf else 0.0
        candle = Candle(symbol, timeframe, from_ms(ms), o, h, low, c, volume)
        if sound_candle(candle):
            out.append(candle)
    return out


def build_funding(symbol: str, rows: Any) -> list[FundingRate]:
    """Settled funding rates from ccxt funding-rate-history structures, times on the hour."""
    out: list[FundingRate] = []
    for row in rows if isinstance(rows, list | tuple) else ():
        if not isinstance(row, Mapping):
            continue
        ms, rate = _ms(row.get("timestamp")), number(row.get("fundingRate"))
        if ms is None or rate is None or not math.isfinite(rate):
            continue
        out.append(FundingRate(symbol, round_to_hour(from_ms(ms)), rate))
    return sorted({f.at: f for f in out}.values(), key=lambda f: f.at)


def build_funding_caps(rows: Any, symbols_by_id: Mapping[str, str]) -> dict[str, float]:
    """{unified symbol: cap} from Binance's `GET /fapi/v1/fundingInfo` rows; the cap is the
    larger of |adjustedFundingRateCap| and |adjustedFundingRateFloor| (a fraction per
    settlement). Rows of symbols not in `symbols_by_id` (exchange id -> unified symbol), or
    without a finite positive cap, are skipped; a body of any other shape gives {}."""
    caps: dict[str, float] = {}
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, Mapping):
            continue
        symbol = symbols_by_id.get(str(row.get("symbol")))
        bounds = [
            number(row.get(k)) for k in ("adjustedFundingRateCap", "adjustedFundingRateFloor")
        ]
        cap = max((abs(b) for b in bounds if b is not None), default=0.0)
        if symbol is not None and 0.0 < cap < math.inf:
            caps[symbol] = cap
    return caps
