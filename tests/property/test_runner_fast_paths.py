"""The runners' per-call shortcuts against the plain domain path (hypothesis).

`AccountRunner` keeps its account's `NavTerms` until the account changes and skips signals
that `keeps` says change nothing; `TokenRunner` keeps the price-free terms of its NAV until a
fund changes; both make a step's `Records` only when the step produces one. Each must give
exactly (==, not approx) what the plain path gives after any sequence of calls.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import perp_account as pa
from bot.domain.liquidation import Tier
from bot.domain.perp import (
    PerpParams,
    PerpPosition,
    StaticPerpParams,
    check_triggers,
    notional,
    quiet_band,
    trigger_band,
    walk_quiet,
)
from bot.domain.price_path import PricePoint
from bot.domain.records import NavRecord
from bot.domain.sizing import default_rules
from bot.domain.spot import SpotParams
from bot.domain.token_presets import preset_names, token_spec
from bot.domain.token_schedule import (
    _RANK,
    DAILY_REBALANCE,
    MANAGEMENT_FEE,
    TokenTimedEvent,
    _daily,
    due_events,
)
from bot.domain.token_spec import seconds_of_day
from bot.domain.values import Side
from bot.portfolios.accounts import AccountRunner
from bot.portfolios.protocol import NO_RECORDS
from bot.portfolios.tokens import TokenRunner
from bot.strategy import Direction, Signal
from tests.hypothesis_profiles import examples

BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=examples(60), deadline=None)
TIERS = (Tier(0.0, 1e12, 0.004, 0.0, 125.0),)

directions = st.sampled_from([Direction.LONG, Direction.SHORT, Direction.FLAT])
returns = st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=1, max_size=30)
calls = st.lists(st.tuples(st.integers(0, 4), directions, st.floats(-0.001, 0.001)), max_size=30)


def _plain_nav(account: pa.PerpAccount, at: datetime, price: float) -> NavRecord:
    # The snapshot spelt out with PerpAccount.nav and notional, as before NavTerms.
    nav, pos, cash = account.nav(price), account.position, account.cash
    if pos is not None and pos.margin is None:
        cash -= pos.qty * pos.entry
    exposure = 0.0 if pos is None else notional(pos, price)
    return NavRecord(at, nav, cash, exposure, exposure / nav if nav > 0.0 else 0.0, price)


def _account_runner(kind: int) -> AccountRunner:
    params = (PerpParams(risk_pct=0.05), StaticPerpParams(leverage=3), SpotParams())[kind]
    return AccountRunner("p", "x", BTC, 10_000.0, params, default_rules(BTC), TIERS)


@FAST
@given(st.integers(0, 2), returns, calls)
def test_account_runner_snapshots_and_signals_match_the_plain_path(
    kind: int, moves: list[float], actions: list[tuple[int, Direction, float]]
) -> None:
    runner, plain = _account_runner(kind), _account_runner(kind)
    for opened in (runner, plain):  # a position to walk from the start
        opened.on_signal(T0, Signal(Direction.LONG, stop_pct=0.05), 100.0)
    assert runner.drain() == plain.drain()
    price, at = 100.0, T0
    for step, (move, (action, direction, rate)) in enumerate(zip(moves, actions, strict=False)):
        # A bar: open, the extremes (1 % beyond open and close), close.
        at, open_ = T0 + timedelta(hours=step + 1), price
        price = open_ * (1.0 + move)
        path = (open_, min(open_, price) * 0.99, max(open_, price) * 1.01, price)
        signal = Signal(direction, stop_pct=0.05 if direction is not Direction.FLAT else None)
        if action == 0:
            runner.on_signal(at, signal, price)
            target = {Direction.LONG: Side.LONG, Direction.SHORT: Side.SHORT}.get(direction)
            plain.account, booked = plain._apply(at, target, signal, price)  # every signal
            plain._book(booked)
            plain._count(at, booked.refusals)
        elif action == 1:
            runner.apply_funding(at, rate, price)
            plain.apply_funding(at, rate, price)
        else:
            runner.on_path([PricePoint(at, p, p, i == 0, i == 3) for i, p in enumerate(path)])
            for i, p in enumerate(path):  # point by point, the domain's own way
                plain.account, booked = pa.on_price(plain.account, at, p, p, gap=i == 0)
                plain._book(booked)
        # The snapshot first: it must not need the position's best price brought up to date.
        assert runner.nav(at, price, price) == _plain_nav(plain.account, at, price)
        assert runner.drain() == plain.drain()
        if step % 3 == 2:  # several walks between two looks at the account
            assert runner.account == plain.account
    assert runner.state() == plain.state()


def _position(side: Side, stop: float | None, tp: float | None, liq: float | None) -> PerpPosition:
    margin = 20.0 if liq is not None else None
    return PerpPosition("1", BTC, BTC, side, 1.0, 100.0, T0, 5.0, margin, liq, liq, stop, tp,
                        None, 100.0, "last", 0.0005, 0.0002)  # fmt: skip


levels = st.one_of(st.none(), st.floats(50.0, 150.0))
prices = st.floats(40.0, 160.0)


@FAST
@given(st.sampled_from([Side.LONG, Side.SHORT]), levels, levels, levels, prices, prices)
def test_trigger_band_is_exactly_where_nothing_triggers_and_only_the_best_moves(
    side: Side, stop: float | None, tp: float | None, liq: float | None, last: float, mark: float
) -> None:
    pos = _position(side, stop, tp, liq)
    lo, hi, mark_lo, mark_hi = trigger_band(pos)
    for gap in (True, False):
        moved, trigger = check_triggers(pos, last, mark, gap=gap)
        assert (lo < last < hi and mark_lo < mark < mark_hi) is (trigger is None)
        assert moved == replace(pos, best=moved.best)


def test_a_long_walks_to_its_best_trigger_price() -> None:
    pos = _position(Side.LONG, 90.0, None, None)
    points = [
        PricePoint(T0, p, p, i == 0, i == 3) for i, p in enumerate((101.0, 99.0, 104.0, 103.0))
    ]
    # 104 is the best so far; the walk stops at 89 (the stop), before it
    points.append(PricePoint(T0, 89.0, 89.0, True, True))
    assert walk_quiet(pos, trigger_band(pos), points, 0, 5, pos.best) == (4, 104.0)
    # with quiet_band the best bounds the walk: 101 is a new best
    assert walk_quiet(pos, quiet_band(pos), points, 0, 5, pos.best) == (0, 100.0)


def test_nav_terms_of_a_long_by_hand() -> None:
    account = pa.PerpAccount(BTC, 1_000.0, trading_fees=2.0)
    entry = pa.Entry(Side.LONG, 2.0, 100.0, 0.0, 0.0, 2.0, margin=100.0, liq_price=50.5)
    account, _ = pa.open_position(account, T0, entry)
    record = pa.nav_terms(account).record(T0, 110.0)
    # cash 1000 - 2 = 998; unrealised 2 x (110 - 100) = 20; exposure 2 x 110 = 220
    assert record == NavRecord(T0, 1_018.0, 998.0, 220.0, 220.0 / 1_018.0, 110.0)


def test_a_step_without_records_drains_the_shared_empty_records() -> None:
    runner = _account_runner(0)
    assert runner.drain() is NO_RECORDS
    runner.on_signal(T0, Signal(Direction.LONG, stop_pct=0.05), 100.0)
    records = runner.drain()
    assert [f.side for f in records.fills] == ["buy"] and records.positions[0].id == "p#1"
    runner.on_signal(T0 + timedelta(hours=1), Signal(Direction.LONG, stop_pct=0.05), 100.0)
    assert runner.drain() is NO_RECORDS  # held already: nothing to book


def _plain_token_nav(runner: TokenRunner, at: datetime, mark: float) -> NavRecord:
    funds = runner.funds.values()
    value = sum(f.units * f.nav for f in funds)
    committed = sum(p.amount for f in funds for p in f.pending if p.kind == "subscribe")
    exposure = sum(f.units * f.qty * mark for f in funds)
    nav = runner.cash + committed + value
    leverage = exposure / nav if nav > 0 else 0.0
    return NavRecord(at, nav, runner.cash + committed, exposure, leverage, mark)


@FAST
@given(st.sampled_from(preset_names()), returns, st.lists(directions, min_size=1, max_size=30))
def test_token_runner_events_and_snapshots_match_the_plain_path(
    name: str, moves: list[float], wishes: list[Direction]
) -> None:
    _walk_token_runner(name, moves, wishes)


def test_a_request_deferred_by_a_rebalance_is_released_on_time() -> None:
    # +20 % rebalances the long fund (5 minutes busy), so the long signal of the same step
    # is deferred; the next step must list its RELEASE although nothing else is due.
    _walk_token_runner("binance_blvt", [0.2, 0.0, 0.0], [Direction.LONG] * 3)


def _walk_token_runner(name: str, moves: list[float], wishes: list[Direction]) -> None:
    # Due events, their application and the NAV snapshots against the domain's own.
    specs = {side: token_spec(name, side) for side in (Side.LONG, Side.SHORT)}
    runner = TokenRunner("t", "x", BTC, 10_000.0, specs)
    assert runner.nav(T0, 100.0, 100.0) == _plain_token_nav(runner, T0, 100.0)  # no fund yet
    price = 100.0
    runner.on_path([PricePoint(T0, price, price, True, True)])  # the funds launch
    for step, (move, direction) in enumerate(zip(moves, wishes, strict=False)):
        at = T0 + timedelta(hours=step + 1)
        after = at - timedelta(hours=1)
        plain = [
            (event.at, event.kind, (side, event))
            for side, fund in runner.funds.items()
            for event in due_events(specs[side], fund, after, at)
        ]
        events = runner.due_events(after, at)
        assert [(e.at, e.kind, e.payload) for e in events] == plain
        for event in events:
            runner.apply_event(event, price)  # the latest price before the event (as the engine)
        price *= 1.0 + move
        runner.on_path([PricePoint(at, price, price, True, True)])
        runner.on_signal(at, Signal(direction), price)
        if step % 8 == 7:
            runner.apply_funding(at, 0.0001, price)
        assert runner.nav(at, price, price) == _plain_token_nav(runner, at, price)


def _plain_daily(text: str, kind: str, after: datetime, until: datetime) -> list[object]:
    # The schedule day by day: every UTC day from after's to until's, kept if in (after, until].
    seconds = seconds_of_day(text)
    clock = time(seconds // 3600, seconds % 3600 // 60, seconds % 60, tzinfo=UTC)
    first = after.date()
    days = [first + timedelta(days=n) for n in range((until.date() - first).days + 1)]
    found = (datetime.combine(day, clock) for day in days)
    return [TokenTimedEvent(at, _RANK[kind], kind) for at in found if after < at <= until]


@FAST
@given(
    st.datetimes(datetime(2019, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(timedelta(0), timedelta(days=5)),
    st.integers(0, 86_399),
    st.sampled_from([MANAGEMENT_FEE, DAILY_REBALANCE]),
)
def test_daily_times_match_the_day_by_day_schedule(
    after: datetime, span: timedelta, second: int, kind: str
) -> None:
    text = f"{second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"
    clock = time(second // 3600, second % 3600 // 60, second % 60, tzinfo=UTC)
    on_time = datetime.combine((after + span).date(), clock)  # a bound exactly at an event
    for start, until in ((after, after + span), (after, after - span), (after, on_time)):
        assert _daily(text, kind, start, until) == _plain_daily(text, kind, start, until)
    assert _daily(text, kind, on_time, on_time + span) == _plain_daily(
        text, kind, on_time, on_time + span
    )
