"""Snapshot validation: each rejection reason, counts, and that rejects change no state."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.values import Candle, Quote
from bot.engine.validation import (
    REASONS,
    SnapshotValidator,
    implausible_candles,
    jump_bound,
)
from bot.runtime.clock import FakeClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def q(last: float = 100.0, at: datetime = T0, symbol: str = BTC, **kw: float | None) -> Quote:
    return Quote(symbol=symbol, at=at, last=last, **kw)  # type: ignore[arg-type]


def test_good_quote_is_accepted() -> None:
    v = SnapshotValidator()
    accepted, rejected = v.validate([q(mark=100.1)], at=T0)
    assert accepted == [q(mark=100.1)]
    assert rejected == []
    assert v.summary() == "none"


@pytest.mark.parametrize(
    ("quote", "reason"),
    [
        (q(last=math.nan), "nan"),
        (q(mark=math.inf), "nan"),
        (q(last=0.0), "non_positive"),
        (q(bid=-1.0), "non_positive"),
        (q(at=T0 - timedelta(seconds=121)), "stale"),
    ],
)
def test_bad_price_is_rejected_with_reason(quote: Quote, reason: str) -> None:
    v = SnapshotValidator(stale_after_seconds=120)
    accepted, rejected = v.validate([quote], at=T0)
    assert accepted == []
    assert [(r.symbol, r.reason) for r in rejected] == [(BTC, reason)]
    assert v.counts[reason] == 1


def test_configured_symbol_without_quote_is_missing() -> None:
    v = SnapshotValidator(symbols=[BTC, ETH])
    accepted, rejected = v([q()])
    assert len(accepted) == 1
    assert rejected == [(ETH, "missing")]


def test_required_mark_absent_is_missing() -> None:
    v = SnapshotValidator(require_mark=True)
    assert v([q(mark=None)])[1] == [(BTC, "missing")]


def test_older_than_last_accepted_is_out_of_order() -> None:
    v = SnapshotValidator()
    v.validate([q(at=T0)], at=T0)
    _, rejected = v.validate([q(at=T0 - timedelta(seconds=1))], at=T0)
    assert [r.reason for r in rejected] == ["out_of_order"]


def test_spike_is_rejected_and_the_next_normal_price_accepted() -> None:
    v = SnapshotValidator(max_jump_pct=0.25)
    v.validate([q(100.0, T0)])
    _, rejected = v.validate([q(200.0, T0 + timedelta(seconds=15))])
    accepted, _ = v.validate([q(101.0, T0 + timedelta(seconds=30))])
    assert [r.reason for r in rejected] == ["jump"]
    assert [a.last for a in accepted] == [101.0]


def bar(low: float, high: float, at: datetime = T0, open_: float | None = None) -> Candle:
    """A closed 1m BTC candle from `low` to `high` (opening at `open_`, default `low`)."""
    o = low if open_ is None else open_
    return Candle(BTC, "1m", at, o, high, low, high, 1.0)


def test_a_wrong_level_held_for_many_polls_is_refused_every_time() -> None:
    # Arrange: BTC accepted at 100; then its quote reads 140 for 5 polls (e.g. ETH's and BTC's
    # quotes swapped), while the exchange's candles stay around 100
    v = SnapshotValidator(max_jump_pct=0.25)
    v.validate([q(100.0, T0)])
    reasons = []
    for i in range(1, 6):
        t = T0 + timedelta(seconds=15 * i)
        _, rejected = v.validate([q(140.0 + i, t)], candles=[bar(99.0, 101.0, t)])
        reasons += [r.reason for r in rejected]
    # Assert: refused for as long as it lasts; the true price is accepted at once after
    assert reasons == ["jump"] * 5
    accepted, _ = v.validate([q(100.5, T0 + timedelta(seconds=90))])
    assert [a.last for a in accepted] == [100.5]


def test_a_jump_the_candles_walked_to_is_accepted() -> None:
    # Arrange: accepted at 100; two closed candles walk from 100 down to 70
    v = SnapshotValidator(max_jump_pct=0.10)
    v.validate([q(100.0, T0)])
    t = T0 + timedelta(minutes=2)
    walk = [bar(84.0, 100.2, T0, open_=100.0), bar(70.0, 85.0, T0 + timedelta(minutes=1))]
    # Act: a quote at 69.5 (within 1 % of the span's low, 70), then one at 68 (outside it)
    accepted, rejected = v.validate([q(69.5, t)], candles=walk)
    assert [a.last for a in accepted] == [69.5] and rejected == []
    # Assert: the reference moved to 69.5: 68 is now an ordinary move
    assert v.validate([q(68.0, t + timedelta(seconds=15))])[1] == []


def test_a_spiked_candle_does_not_corroborate_a_spiked_quote() -> None:
    # A candle spiked as a whole (x10: the kline endpoint faulty too) does not reach back to
    # the reference, so it extends nothing
    v = SnapshotValidator(max_jump_pct=0.10)
    v.validate([q(100.0, T0)])
    t = T0 + timedelta(minutes=1)
    _, rejected = v.validate([q(1000.0, t)], candles=[bar(990.0, 1010.0, T0, open_=1000.0)])
    assert [r.reason for r in rejected] == ["jump"]


def test_a_one_poll_drop_inside_the_old_bound_is_refused() -> None:
    # The sim's x0.8 for one poll, 40 minutes after the last accepted quote: 20 % is beyond
    # the 10 % bound and no candle reaches 80, so no stop can fire on it
    v = SnapshotValidator(max_jump_pct=0.10)
    v.validate([q(100.0, T0)])
    t = T0 + timedelta(minutes=40)
    _, rejected = v.validate([q(80.0, t)], candles=[bar(99.0, 101.0, T0)])
    assert [r.reason for r in rejected] == ["jump"]


def test_jump_bound_grows_with_the_square_root_of_time_beyond_an_hour() -> None:
    assert jump_bound(0.10, 15) == 0.10
    assert jump_bound(0.10, 3600) == 0.10
    assert jump_bound(0.10, 4 * 3600) == pytest.approx(0.20)
    # after 4 hours down, a 15 % move is an ordinary one
    v = SnapshotValidator(max_jump_pct=0.10, stale_after_seconds=60)
    v.validate([q(100.0, T0)], at=T0)
    later = T0 + timedelta(hours=4)
    assert v.validate([q(115.0, later)], at=later)[1] == []


def test_mark_jump_is_checked_too() -> None:
    v = SnapshotValidator(max_jump_pct=0.1)
    v.validate([q(100.0, mark=100.0)])
    assert v([q(100.0, mark=150.0)])[1] == [(BTC, "jump")]


def test_stale_check_uses_the_clock_when_no_time_is_given() -> None:
    clock = FakeClock(T0)
    v = SnapshotValidator(stale_after_seconds=60, now=clock.now)
    assert v([q(at=T0)])[1] == []
    clock.advance(timedelta(minutes=5))
    assert v([q(at=T0)])[1] == [(BTC, "stale")]


def test_counts_accumulate_per_reason() -> None:
    v = SnapshotValidator(symbols=[BTC, ETH])
    v.validate([q(last=math.nan)])
    v.validate([q(last=-1.0)])
    assert dict(v.counts) == {"nan": 1, "non_positive": 1, "missing": 2}
    assert v.summary() == "missing 2, nan 1, non_positive 1"
    assert set(v.counts) <= set(REASONS)


@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        min_size=1,
        max_size=30,
    )
)
def test_accepted_prices_are_finite_positive_and_bounded(prices: list[float]) -> None:
    v = SnapshotValidator(max_jump_pct=0.25)
    previous: float | None = None
    for i, price in enumerate(prices):
        accepted, rejected = v.validate([q(price, T0 + timedelta(seconds=i))])
        assert len(accepted) + len(rejected) == 1
        for a in accepted:
            assert math.isfinite(a.last) and a.last > 0
            previous = a.last
    assert previous is None or previous > 0


PRICES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1.0, 100.0])
)


@given(PRICES, PRICES, PRICES, PRICES)
def test_a_malformed_candle_is_exactly_one_no_path_can_walk(
    open_: float, high: float, low: float, close: float
) -> None:
    # The screen's one chained comparison against the rule written out in full.
    candle = Candle(BTC, "5m", T0, open_, high, low, close, 1.0)
    prices = (open_, high, low, close)
    malformed = not all(math.isfinite(p) and p > 0 for p in prices) or (
        high < max(open_, close) or low > min(open_, close)
    )
    assert (implausible_candles([candle], {}, [], None) == [candle]) is malformed


def test_a_last_price_that_disagrees_with_its_own_mark_or_index_is_refused() -> None:
    # issue 15: BTC and ETH quotes swapped; a garbled field. Within 10 % passes (a crash's
    # basis), beyond it is refused, also as a symbol's first quote (no reference needed).
    v = SnapshotValidator()
    assert v([q(100.0, mark=109.0)])[1] == []
    assert v([q(100.0, mark=112.0)])[1] == [(BTC, "disagree")]  # 100 / 112 - 1 = -10.7 %
    swapped = Quote(BTC, T0, 3_000.0, 61_862.4, index_price=61_850.0)
    assert SnapshotValidator()([swapped])[1] == [(BTC, "disagree")]
    assert v([Quote(BTC, T0, 100.0, 100.5, index_price=89.0)])[1] == [(BTC, "disagree")]
    assert v.counts["disagree"] == 2
