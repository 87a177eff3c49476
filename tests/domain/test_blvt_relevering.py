"""Binance BLVT re-levering (issue 16, MECHANICS §1 note): decay in a chop, momentum in a trend.

Every path here is a daily close walked as one continuous move (no gap), with every cost set
to zero, so the fund follows MECHANICS §0 exactly: between rebalances N = N_rb·(1 + L·r) with
r = S/S_rb − 1 and λ(r) = L(1 + r)/(1 + L·r); a trigger at |λ| = U is reached at
r* = (U − L)/(L·(1 − U)) (U signed like L), and the fund re-levers to L there.
The benchmark is "target leverage times the underlying": 1 + L·(S_T/S_0 − 1), which is also
what the old static basket (band [1.25, 4] only) gave while it never rebalanced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.leveraged_token import TokenState, new_token, on_price
from bot.domain.token_presets import token_spec
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side, TokenEventKind

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NO_COSTS: dict[str, object] = {
    "management_fee_pct": 0.0,
    "rebalance_fee_pct": 0.0,
    "slippage_pct": 0.0,
}
OLD_BAND: dict[str, object] = {**NO_COSTS, "tolerance": None}  # the trigger band of before


def walk(spec: TokenSpec, closes: list[float]) -> tuple[TokenState, int]:
    """Walk daily closes as continuous moves; return the fund and its rebalance count."""
    state, count = new_token(spec, T0, closes[0]), 0
    for day, close in enumerate(closes[1:], start=1):
        state, records = on_price(spec, state, T0 + timedelta(days=day), close)
        count += sum(e.kind == TokenEventKind.REBALANCE for e in records.events)
    return state, count


def chop(amplitude: float, days: int = 30) -> list[float]:
    """100 → 100·(1 + a) → 100 → ...: one move a day, +a then back. (Alternating ×(1 + a) and
    ×(1 − a) would drift down 0.25 %-per-pair at a = 5 %, a trend the fund profits from.)"""
    return [100.0 * (1 + amplitude) ** (day % 2) for day in range(days + 1)]


def trend(daily: float, days: int = 30) -> list[float]:
    return [100.0 * (1 + daily) ** day for day in range(days + 1)]


def benchmark(lev: float, closes: list[float]) -> float:
    return 1 + lev * (closes[-1] / closes[0] - 1)


def trigger(lev: float, bound: float) -> float:
    return (bound - lev) / (lev * (1 - bound))


def reference(lev: float, lo: float, hi: float, closes: list[float]) -> tuple[float, int]:
    """MECHANICS §0 in return space: the fund re-levered to `lev` whenever |λ| reaches `lo` or
    `hi` on the continuous path through `closes`; (final NAV, rebalances)."""
    sign = 1.0 if lev > 0 else -1.0
    moves = sorted(trigger(lev, sign * bound) for bound in (lo, hi))  # (r− < 0, r+ > 0)
    nav, ref, count = 1.0, closes[0], 0
    for close in closes[1:]:
        while not moves[0] < close / ref - 1 < moves[1]:
            r = moves[1] if close > ref else moves[0]
            nav, ref, count = nav * (1 + lev * r), ref * (1 + r), count + 1
    return nav * (1 + lev * (closes[-1] / ref - 1)), count


def test_default_triggers_are_a_tolerance_around_the_target_not_the_old_band() -> None:
    # Long 2.25x, tolerance 0.25: λ reaches 2.5 after r* = 0.25/(2.25·(1 − 2.5)) = −7.41 % and
    # 2.0 after (−0.25)/(2.25·(1 − 2)) = +11.11 %. Short −2.25x: −2.5 after +3.17 %, −2.0 after
    # −3.70 %. The old band needed −25.93 % / +177.78 % (long), as issue 16 reports.
    long = token_spec("binance_blvt", Side.LONG, NO_COSTS)
    assert (long.target_leverage, long.tolerance, long.band_lo, long.band_hi) == (
        2.25,
        0.25,
        1.25,
        4.0,
    )
    assert trigger(2.25, 2.5) == pytest.approx(-2 / 27)
    assert trigger(2.25, 2.0) == pytest.approx(1 / 9)
    assert trigger(-2.25, -2.5) == pytest.approx(2 / 63)
    assert trigger(-2.25, -2.0) == pytest.approx(-1 / 27)
    assert trigger(2.25, 4.0) == pytest.approx(-7 / 27)
    assert trigger(2.25, 1.25) == pytest.approx(16 / 9)
    for side, fall, rise in ((Side.LONG, -2 / 27, 1 / 9), (Side.SHORT, -1 / 27, 2 / 63)):
        spec = token_spec("binance_blvt", side, NO_COSTS)
        for move in (fall, rise):
            state, records = on_price(spec, new_token(spec, T0, 100.0), T0, 100.0 * (1 + 2 * move))
            first = records.events[0]
            assert state.rebalance_at == T0
            # The first rebalance happens at the trigger, at NAV 1 + L·r*.
            assert first.nav_per_unit == pytest.approx(1 + spec.leverage * move, rel=1e-12)
            # |λ| rises on a long's fall and a short's rise, to 2.5; else it falls to 2.0.
            rising = (move == fall) == (side is Side.LONG)
            assert abs(first.leverage_before) == pytest.approx(2.5 if rising else 2.0, rel=1e-12)


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
@pytest.mark.parametrize(("amplitude", "tolerance"), [(0.05, 0.1), (0.20, 0.25)])
def test_a_symmetric_chop_loses_against_target_leverage_times_the_underlying(
    side: Side, amplitude: float, tolerance: float
) -> None:
    # "built-in decay in the absence of momentum": each re-levering after a move buys high and
    # sells low, so 30 days of chop end below the benchmark, here exactly 1 (S_T = S_0). A 5 %
    # chop crosses a 0.1 tolerance (long: the first +5 % takes λ to 2.12, past 2.15 at +3.86 %);
    # the default 0.25 needs +11.1 % / −7.4 % from the last rebalance (long), so a 20 % chop.
    # The reference walks the §0 formulas trigger by trigger: long 6 and 35 rebalances, NAV
    # 0.98908 and 0.67405; short 75 and 133, NAV 0.94998 and 0.56549.
    spec = token_spec("binance_blvt", side, {**NO_COSTS, "tolerance": tolerance})
    closes = chop(amplitude)
    state, count = walk(spec, closes)
    expected, expected_count = reference(spec.leverage, 2.25 - tolerance, 2.25 + tolerance, closes)
    assert count == expected_count >= 6
    assert state.nav == pytest.approx(expected, rel=1e-9)
    assert benchmark(spec.leverage, closes) == pytest.approx(1.0, rel=1e-12)
    assert state.nav < 0.99


@pytest.mark.parametrize(
    ("side", "daily", "step", "gain"),
    [
        # long up +2 %/day: re-levered at each +1/9 (λ 2.0), NAV × (1 + 2.25/9) = 1.25
        (Side.LONG, 0.02, 10 / 9, 1.25),
        # long down −1 %/day: at each −2/27 (λ 2.5), NAV × (1 − 2.25·2/27) = 5/6
        (Side.LONG, -0.01, 25 / 27, 5 / 6),
        # short down −2 %/day: at each −1/27 (λ −2.0), NAV × (1 + 2.25/27) = 13/12
        (Side.SHORT, -0.02, 26 / 27, 13 / 12),
        # short up +1 %/day: at each +2/63 (λ −2.5), NAV × (1 − 2.25·2/63) = 13/14
        (Side.SHORT, 0.01, 65 / 63, 13 / 14),
    ],
)
def test_a_steady_trend_beats_target_leverage_times_the_underlying(
    side: Side, daily: float, step: float, gain: float
) -> None:
    # "preference toward momentum": after k triggers the fund holds NAV gain^k, re-levered at
    # S_k = 100·step^k, then rides 1 + L·(S_T/S_k − 1) to the last close.
    spec = token_spec("binance_blvt", side, NO_COSTS)
    closes = trend(daily)
    crossings = 0
    while (100.0 * step ** (crossings + 1) - closes[-1]) * (1 if daily > 0 else -1) <= 0:
        crossings += 1
    last = 100.0 * step**crossings
    expected = gain**crossings * (1 + spec.leverage * (closes[-1] / last - 1))
    state, count = walk(spec, closes)
    assert count == crossings >= 3
    assert state.nav == pytest.approx(expected, rel=1e-9)
    assert state.nav > benchmark(spec.leverage, closes)


def test_the_static_basket_of_before_is_gone() -> None:
    # A 20 % chop: the old band-only fund never leaves [1.25, 4] (λ 2.25 ↔ 2.25·1.2/1.45 =
    # 1.86), so it is a static basket worth exactly the benchmark, 1; the default re-levers.
    closes = chop(0.20)
    old = token_spec("binance_blvt", Side.LONG, OLD_BAND)
    new = token_spec("binance_blvt", Side.LONG, NO_COSTS)
    old_state, old_count = walk(old, closes)
    new_state, new_count = walk(new, closes)
    assert old_count == 0
    assert old_state.nav == pytest.approx(benchmark(2.25, closes), rel=1e-12)
    assert new_count == 35
    assert new_state.nav < 0.7 * old_state.nav


def test_the_target_bound_stays_an_emergency_trigger() -> None:
    # A tolerance wider than the bounds (2.25 ± 3): only |λ| = 4 (a −25.93 % fall) or 1.25
    # (+177.78 %) rebalance, as before; a −30 % move crosses 4 once.
    spec = token_spec("binance_blvt", Side.LONG, {**NO_COSTS, "tolerance": 3.0})
    state, records = on_price(spec, new_token(spec, T0, 100.0), T0, 70.0)
    [event] = records.events
    assert event.leverage_before == pytest.approx(4.0, rel=1e-12)
    assert event.nav_per_unit == pytest.approx(1 + 2.25 * (-7 / 27), rel=1e-12)
    assert state.rebalance_price == pytest.approx(100 * 20 / 27, rel=1e-12)
