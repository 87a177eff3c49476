"""Garbage of any JSON shape through the ccxt parse layer (issue 15 point 1): no exception
escapes and nothing invalid comes out: candles are sound (finite prices > 0 a path runs
through, a time in bounds, volume >= 0), funding rates finite with times on the hour, quotes
stamped with an aware time no later than the step's."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.ccxt.parse import build_candles, build_funding, build_funding_caps, build_quote
from bot.engine.validation import sound_candle
from tests.hypothesis_profiles import examples

AT = datetime(2024, 3, 1, tzinfo=UTC)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["1e400", "nan", "-0", "1709251200000", "65000.5", "", "0x10"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=30,
)
KEYS = ["last", "price", "close", "markPrice", "indexPrice", "bid", "ask", "timestamp",
        "fundingRate", "fundingTimestamp", "nextFundingTimestamp"]  # fmt: skip
ticker_like = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)
ohlcv_rows = st.lists(st.lists(json_values, min_size=5, max_size=7) | json_values, max_size=8)


@settings(max_examples=examples(150), deadline=None)
@given(rows=ohlcv_rows | json_values)
def test_garbage_candles_parse_to_sound_candles_or_nothing(rows: Any) -> None:
    for candle in build_candles("BTC/USDT:USDT", "1h", rows):
        assert sound_candle(candle) and math.isfinite(candle.volume) and candle.volume >= 0.0
        assert 1970 <= candle.at.year <= 2100 and candle.at.tzinfo is UTC


@settings(max_examples=examples(150), deadline=None)
@given(rows=st.lists(ticker_like | json_values, max_size=8) | json_values)
def test_garbage_funding_parses_to_finite_rates_on_the_hour_or_nothing(rows: Any) -> None:
    for rate in build_funding("BTC/USDT:USDT", rows):
        assert math.isfinite(rate.rate) and rate.at.minute == 0 and rate.at.second == 0


@settings(max_examples=examples(150), deadline=None)
@given(sources=st.lists(ticker_like, max_size=3), rate=st.none() | ticker_like)
def test_garbage_tickers_parse_to_a_quote_or_none(
    sources: list[dict[str, Any]], rate: dict[str, Any] | None
) -> None:
    quote = build_quote("BTC/USDT:USDT", AT, sources, rate)
    if quote is not None:
        assert isinstance(quote.last, float) and quote.at <= AT and quote.at.tzinfo is not None


CAP_KEYS = ["symbol", "adjustedFundingRateCap", "adjustedFundingRateFloor", "fundingIntervalHours"]
info_rows = st.dictionaries(st.sampled_from(CAP_KEYS), json_values | st.just("BTCUSDT"), max_size=4)


@settings(max_examples=examples(150), deadline=None)
@given(rows=st.lists(info_rows | json_values, max_size=6) | json_values)
def test_garbage_funding_info_parses_to_finite_positive_caps_or_nothing(rows: Any) -> None:
    caps = build_funding_caps(rows, {"BTCUSDT": "BTC/USDT:USDT"})
    assert set(caps) <= {"BTC/USDT:USDT"}
    assert all(math.isfinite(c) and c > 0 for c in caps.values())
