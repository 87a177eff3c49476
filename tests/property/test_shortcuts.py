"""Shortcuts of the replay's usual step give exactly what the exact path gives (hypothesis).

Each takes the common case in short and leaves the rest to the exact code: the funding
screen's float check of a rate (`FundingScreen.plausible` against the rule it shortens), the ATR's
largest true range by comparison (against `max()`), and `clears_minimum` (against the exact
lot rounding of `round_down_to_step`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.perp_signals import clears_minimum
from bot.domain.sizing import MarketRules, min_notional_refusal, round_down_to_step
from bot.domain.values import FundingRate, Quote
from bot.engine.funding_screen import FundingScreen
from bot.engine.ports import MarketUpdate
from strategies.indicators import atr

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
RATES = [
    0.0001, -0.0001, 0.03, -0.03, 0.0300001, -0.0300001, 0.025, 0.02500001, -0.0, 0.0,
    math.nan, math.inf, -math.inf, 0, 1, True, False, np.float64(0.01), np.float64(0.5),
    Decimal("0.01"), "0.01", None,
]  # fmt: skip
SYMBOL_RATES = st.lists(st.tuples(st.sampled_from([BTC, ETH]), st.sampled_from(RATES)), max_size=3)


@given(funding=SYMBOL_RATES, predicted=SYMBOL_RATES)
def test_the_usual_step_check_agrees_with_plausible_for_any_rate(
    funding: list[tuple[str, object]], predicted: list[tuple[str, object]]
) -> None:
    # Floats at and beyond the caps (ETH's 2.5 %), NaN, infinities, ints, bools, numpy
    # floats, Decimals and text.
    screen = FundingScreen({ETH: 0.025})

    def plausible(symbol: str, rate: object) -> bool:  # the rule, without the float shortcut
        cap = screen.cap(symbol)
        return isinstance(rate, int | float) and math.isfinite(rate) and abs(rate) <= cap

    quotes = tuple(
        Quote(s, T0, 100.0, 100.0, funding_rate=r, next_funding_at=T0)  # type: ignore[arg-type]
        for s, r in predicted
    )
    rates = tuple(FundingRate(s, T0, r) for s, r in funding)  # type: ignore[arg-type]
    expected = all(plausible(s, r) for s, r in funding) and all(
        r is None or plausible(s, r) for s, r in predicted
    )
    assert screen._all_plausible(MarketUpdate(T0, quotes, (), rates)) is expected
    assert all(screen.plausible(s, r) is plausible(s, r) for s, r in funding + predicted)


PRICES = st.one_of(
    st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
    st.sampled_from([1.0, 2.0, 100.0]),  # ties between the three ranges
    st.just(math.nan),
)


@given(
    bars=st.lists(st.tuples(PRICES, PRICES, PRICES), min_size=2, max_size=30),
    period=st.integers(min_value=1, max_value=30),
)
def test_atr_equals_the_mean_of_max_true_ranges(
    bars: list[tuple[float, float, float]], period: int
) -> None:
    high, low, close = ([b[i] for b in bars] for i in range(3))
    n = len(close)
    period = min(period, n)  # strategies wait for their warm-up
    ranges = [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        if i > 0
        else max(high[i] - low[i], abs(high[i] - close[i]), abs(low[i] - close[i]))
        for i in range(n - period, n)
    ]
    expected, got = sum(ranges) / period, atr(high, low, close, period)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@given(
    qty=st.one_of(
        st.floats(min_value=-1.0, max_value=1e4, allow_nan=False),
        st.sampled_from([0.001, 0.002, 0.0010000001, 0.005, 0.1, 1.0]),
    ),
    price=st.one_of(
        st.floats(min_value=0.01, max_value=2e5, allow_nan=False),
        st.sampled_from([1000.0, 5000.0, 4999.999999, 5000.000001]),
    ),
    step=st.sampled_from([0.0, 0.001, 0.01, 0.1, 1.0, 0.00001]),
    minimum=st.sampled_from([0.0, 5.0, 20.0, 100.0]),
)
def test_clears_minimum_agrees_with_exact_rounding(
    qty: float, price: float, step: float, minimum: float
) -> None:
    # At and around the boundaries: qty a hair above a step, a notional a hair around the
    # minimum.
    rules = MarketRules(lot_step=step, min_notional=minimum, taker_fee=0.0005, maker_fee=0.0002)
    exact = min_notional_refusal(round_down_to_step(qty, step), price, rules) is None
    assert clears_minimum(qty, price, rules) is exact
