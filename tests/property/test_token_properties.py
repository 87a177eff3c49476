"""Properties of the leveraged-token fund over random price paths (hypothesis).

The driver plays a path of hourly prices through the same calls an engine makes: due timed events
(management fee, daily rebalance, releases) at the previous price, 8-hourly funding, then the
price itself. Continuous triggers execute where the threshold is crossed between two prices.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.leveraged_token import (
    MAX_CROSSINGS,
    TokenState,
    new_token,
    on_price,
    redeem,
    subscribe,
)
from bot.domain.token_presets import preset_names, token_spec
from bot.domain.token_records import TokenRecords
from bot.domain.token_schedule import apply_funding, apply_timed_event, due_events
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side, TokenEventKind
from tests.hypothesis_profiles import examples

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=examples(60), deadline=None)

sides = st.sampled_from([Side.LONG, Side.SHORT])
fractions = st.lists(st.floats(-0.95, 0.95), min_size=1, max_size=80)
funding_rates = st.lists(st.floats(-0.003, 0.003), min_size=1, max_size=12)


def step(
    spec: TokenSpec, state: TokenState, at: datetime, price: float, rate: float
) -> tuple[TokenState, list[TokenRecords]]:
    """Advance one hour to `at`: timed events, funding on 8-hourly marks, then the price."""
    produced: list[TokenRecords] = []
    for event in due_events(spec, state, state.at, at):
        state, records = apply_timed_event(spec, state, event, state.price)
        produced.append(records)
    if at.hour % 8 == 0:
        state, records = apply_funding(spec, state, at, rate, state.price)
        produced.append(records)
    state, records = on_price(spec, state, at, price)
    produced.append(records)
    return state, produced


def adverse_bounded_move(spec: TokenSpec, state: TokenState, fraction: float) -> float:
    """A move whose adverse part stays within fraction/|λ|, |fraction| < 1 (so 1 + λ·r > 0)."""
    scale = max(abs(state.leverage), abs(spec.leverage))
    return max(fraction / scale, -0.9)


def play(
    spec: TokenSpec, moves: list[float], rates: list[float], bounded: bool = True
) -> tuple[TokenState, list[TokenRecords], list[TokenState]]:
    state = new_token(spec, T0, 100.0)
    state = replace(state, units=1_000.0)
    log: list[TokenRecords] = []
    states = [state]
    for i, fraction in enumerate(moves, start=1):
        move = adverse_bounded_move(spec, state, fraction) if bounded else fraction
        price = state.price * (1 + move)
        state, produced = step(spec, state, T0 + timedelta(hours=i), price, rates[i % len(rates)])
        log += produced
        states.append(state)
    return state, log, states


@FAST
@given(st.sampled_from(preset_names()), sides, fractions, funding_rates)
def test_nav_stays_positive_when_no_step_gaps_beyond_one_over_leverage(
    name: str, side: Side, moves: list[float], rates: list[float]
) -> None:
    spec = token_spec(name, side)
    _, _, states = play(spec, moves, rates)
    assert all(s.nav > 0 and not s.wiped_out for s in states)


@FAST
@given(st.sampled_from([1.0, 2.0, 3.0, 5.0]), sides, fractions)
def test_ideal_continuous_stays_positive_for_moves_within_one_over_target(
    lev: float, side: Side, moves: list[float]
) -> None:
    # Rebalanced at every price, λ = L at each step: moves above −1/|L| (long) or below +1/|L|
    # (short) can never reach the wipe-out point.
    spec = token_spec(
        "ideal_continuous", side, {"target_leverage": lev, "rebalance_fee_pct": 0.001}
    )
    state = new_token(spec, T0, 100.0)
    for i, fraction in enumerate(moves, start=1):
        move = max(fraction / lev, -0.95)
        state, _ = on_price(spec, state, T0 + timedelta(hours=i), state.price * (1 + move))
        assert state.nav > 0


@FAST
@given(st.sampled_from(preset_names()), sides, st.lists(st.floats(-0.99, 3.0), max_size=40))
def test_nav_is_never_negative_even_through_gaps(name: str, side: Side, moves: list[float]) -> None:
    spec = token_spec(name, side)
    _, _, states = play(spec, moves or [0.0], [0.0001], bounded=False)
    assert all(s.nav >= 0 for s in states)
    assert all((s.nav == 0) == s.wiped_out for s in states)


@FAST
@given(st.sampled_from(preset_names()), sides, fractions, funding_rates)
def test_real_leverage_equals_target_right_after_every_rebalance(
    name: str, side: Side, moves: list[float], rates: list[float]
) -> None:
    spec = token_spec(name, side)
    _, log, _ = play(spec, moves, rates)
    rebalances = [e for r in log for e in r.events if e.kind == TokenEventKind.REBALANCE]
    for event in rebalances:
        assert math.isclose(event.leverage_after, spec.leverage, rel_tol=1e-9)


@FAST
@given(st.sampled_from(preset_names()), sides, fractions, funding_rates)
def test_per_step_decomposition_adds_up_and_covers_the_whole_path(
    name: str, side: Side, moves: list[float], rates: list[float]
) -> None:
    # Each step: token return = L·r + decay + rebalance cost + management fee + funding; and the
    # recorded steps chain to the fund's whole NAV change (splits excluded, they keep value).
    spec = token_spec(name, side)
    final, log, _ = play(spec, moves, rates)
    steps = [s for r in log for s in r.steps]
    growth = 1.0
    for s in steps:
        terms = s.market + s.decay + s.rebalance_cost + s.management_fee + s.funding
        assert abs(s.token_return - terms) <= 1e-12  # the terms add up to the return
        assert s.rebalance_cost <= 0 and s.management_fee <= 0
        assert math.isclose(s.market, spec.leverage * s.underlying_return, abs_tol=1e-15)
        growth *= 1 + s.token_return
    assert math.isclose(growth, final.nav / final.split_factor, rel_tol=1e-9)


@settings(max_examples=examples(8), deadline=None)
@given(st.sampled_from([2.0, 3.0, -1.0, -3.0]), st.integers(0, 2**32 - 1))
def test_ideal_continuous_matches_the_closed_form(lev: float, seed: int) -> None:
    # MECHANICS §8.1: N_T/N_0 = (S_T/S_0)^L · exp(−(L² − L)/2 · ∫σ²dt), with the realised
    # variance Σ(Δ ln S)² of a smooth 10,000-step path (σ 0.2 % per step, a small drift).
    side = Side.LONG if lev > 0 else Side.SHORT
    spec = token_spec("ideal_continuous", side, {"target_leverage": abs(lev)})
    rng = random.Random(seed)
    log_returns = [0.00002 + 0.002 * rng.gauss(0.0, 1.0) for _ in range(10_000)]
    state, at = new_token(spec, T0, 100.0), T0
    for log_return in log_returns:
        at += timedelta(minutes=1)
        state, _ = on_price(spec, state, at, state.price * math.exp(log_return))
    variance = sum(x * x for x in log_returns)
    closed = (state.price / 100.0) ** lev * math.exp(-(lev * lev - lev) / 2 * variance)
    assert math.isclose(state.nav, closed, rel_tol=1e-3)


requests = st.lists(
    st.tuples(st.booleans(), st.floats(0.05, 1.0), st.integers(1, 9), st.floats(-0.08, 0.08)),
    min_size=1,
    max_size=40,
)


@FAST
@given(st.sampled_from(["bybit", "binance_blvt", "kucoin"]), sides, requests)
def test_requests_during_rebalance_windows_are_deferred_never_lost(
    name: str, side: Side, ops: list[tuple[bool, float, int, float]]
) -> None:
    # Random subscriptions (cash) and redemptions (a share of the free units) between small
    # moves; tokens with a band or 15 % trigger rebalance often and block for 5-15 minutes.
    narrow = {"target_leverage": 3.0, "band_lo": 2.9, "band_hi": 3.1}
    spec = token_spec(name, side, narrow if name != "kucoin" else {})
    state, at = new_token(spec, T0, 100.0), T0
    asked_cash = asked_units = 0.0
    log: list[TokenRecords] = []
    for is_subscription, size, minutes, move in ops:
        at += timedelta(minutes=minutes)
        state, records = on_price(spec, state, at, state.price * (1 + move))
        log.append(records)
        free = state.units - sum(p.amount for p in state.pending if p.kind == "redeem")
        if is_subscription or free <= 0:
            state, records = subscribe(spec, state, at, 100.0 * size)
            asked_cash += 100.0 * size
        else:
            state, records = redeem(spec, state, at, free * size)
            asked_units += free * size
        log.append(records)
    state, records = on_price(spec, state, at + timedelta(days=1), state.price)
    log.append(records)
    fills = [f for r in log for f in r.fills]
    blocked = [e for r in log for e in r.events if e.kind == TokenEventKind.BLOCKED]
    bought = sum(f.qty for f in fills if f.side == "buy")
    sold = sum(f.qty for f in fills if f.side == "sell")
    assert state.pending == ()
    assert len(fills) == len(ops)
    assert math.isclose(sum(f.qty * f.price + f.fee for f in fills if f.side == "buy"), asked_cash)
    assert math.isclose(sold, asked_units, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(state.units, bought - sold, rel_tol=1e-9, abs_tol=1e-9)
    assert len(blocked) <= len(ops)


@FAST
@given(sides, st.sampled_from([0.01, 0.1, 0.25, 1.0]), st.lists(st.floats(-0.3, 0.3), max_size=40))
def test_continuous_triggers_execute_on_their_threshold(
    side: Side, tolerance: float, moves: list[float]
) -> None:
    # Without gaps, funding or fees between prices, a BLVT rebalances exactly where |λ| crosses
    # 2.25 ± tolerance or its emergency bounds 1.25 / 4 (whichever comes first), and ends each
    # price inside them: the move never carries it beyond a threshold unrebalanced.
    spec = token_spec("binance_blvt", side, {"tolerance": tolerance})
    lo, hi = max(1.25, 2.25 - tolerance), min(4.0, 2.25 + tolerance)
    state, at = new_token(spec, T0, 100.0), T0
    for move in moves:
        at += timedelta(hours=1)
        state, records = on_price(spec, state, at, state.price * (1 + move))
        for event in records.events:
            magnitude = abs(event.leverage_before)
            assert math.isclose(magnitude, lo, rel_tol=1e-9) or math.isclose(
                magnitude, hi, rel_tol=1e-9
            )
        assert lo * (1 - 1e-9) <= abs(state.leverage) <= hi * (1 + 1e-9)


def test_a_target_a_rounding_error_inside_its_bound_stops_at_the_crossing_cap() -> None:
    # FTX with a target one float below its 4x trigger: every rebalance lands back on the
    # trigger, so the crossings of one price stop at MAX_CROSSINGS and the fund moves on.
    target = math.nextafter(4.0, 0.0)
    spec = token_spec("ftx", Side.LONG, {"target_leverage": target, "slippage_pct": 0.0})
    state, records = on_price(spec, new_token(spec, T0, 100.0), T0, 99.0)
    assert len(records.events) == MAX_CROSSINGS
    assert state.price == 99.0 and state.at == T0
