"""The replay hot path gives exactly the domain's results (hypothesis).

`quiet_zone` and `quiet_band` must agree with the rules and triggers they stand for, and the
runners' path-at-once entry (`on_path`, with its mutable fast state) must leave the same state
and records as feeding the same points one by one through the pure domain functions.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import leveraged_token as lt
from bot.domain.perp import PerpPosition, check_triggers, quiet_band
from bot.domain.price_path import PricePoint
from bot.domain.rebalance_rules import RuleContext
from bot.domain.token_presets import preset_names, token_spec
from bot.domain.token_spec import intraday_rule, quiet_zone
from bot.domain.values import Side
from bot.portfolios.protocol import Records
from bot.portfolios.tokens import TokenRunner
from tests.hypothesis_profiles import examples

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=examples(150), deadline=None)

presets = st.sampled_from(preset_names())
sides = st.sampled_from([Side.LONG, Side.SHORT])
leverages = st.floats(-12.0, 12.0, allow_nan=False)
moves = st.floats(-0.99, 3.0, allow_nan=False)


@FAST
@given(presets, sides, leverages, moves)
def test_quiet_zone_is_exactly_where_the_intraday_rule_is_silent(
    name: str, side: Side, leverage: float, move: float
) -> None:
    spec = token_spec(name, side)
    zone = quiet_zone(spec)
    fires = intraday_rule(spec).fires(RuleContext(leverage, spec.leverage, move))
    quiet = zone.lev_lo < abs(leverage) < zone.lev_hi and zone.move_lo < move < zone.move_hi
    assert quiet is not fires


def _position(side: Side, stop: float | None, tp: float | None, liq: float | None) -> PerpPosition:
    return PerpPosition(
        id="1",
        symbol="BTC/USDT:USDT",
        instrument="BTC/USDT:USDT",
        side=side,
        qty=1.0,
        entry=100.0,
        opened_at=T0,
        leverage=5.0,
        margin=20.0 if liq is not None else None,
        liq_price=liq,
        bankruptcy=liq,
        stop=stop,
        take_profit=tp,
        trailing_pct=None,
        best=100.0,
        stop_trigger="last",
        fee=0.0005,
        slippage=0.0002,
    )


levels = st.one_of(st.none(), st.floats(50.0, 150.0))
prices = st.floats(40.0, 160.0)


@FAST
@given(sides, levels, levels, levels, prices, prices, st.booleans())
def test_quiet_band_is_exactly_where_nothing_triggers_or_moves(
    side: Side,
    stop: float | None,
    tp: float | None,
    liq: float | None,
    last: float,
    mark: float,
    gap: bool,
) -> None:
    pos = _position(side, stop, tp, liq)
    lo, hi, mark_lo, mark_hi = quiet_band(pos)
    moved, trigger = check_triggers(pos, last, mark, gap=gap)
    quiet = lo < last < hi and mark_lo < mark < mark_hi
    assert quiet is (trigger is None and moved is pos)


@FAST
@given(presets, st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=60), st.booleans())
def test_token_runner_path_equals_the_domain_point_by_point(
    name: str, returns: list[float], subscribe: bool
) -> None:
    specs = {Side.LONG: token_spec(name, Side.LONG), Side.SHORT: token_spec(name, Side.SHORT)}
    if specs[Side.LONG].side is specs[Side.SHORT].side:
        specs = {specs[Side.LONG].side: specs[Side.LONG]}
    runner = TokenRunner("x/token", "x", "BTC/USDT:USDT", 1_000.0, specs)
    price = 100.0
    runner.on_path([PricePoint(T0, price, price, True, True)])
    funds = runner.funds
    if subscribe:
        side = next(iter(specs))
        funds[side], _ = lt.subscribe(specs[side], funds[side], T0, 1_000.0)
        runner.funds = funds
    records = Records()
    # A path of bars: four points per bar (open, two extremes, close), as the engine sends.
    points = []
    at = T0
    for r in returns:
        at += timedelta(minutes=5)
        close = max(price * (1 + r), 1e-3)
        low, high = min(price, close) * 0.999, max(price, close) * 1.001
        for i, p in enumerate((price, low, high, close)):
            points.append(PricePoint(at, p, p, i == 0, i == 3))
        price = close
    expected = dict(funds)
    for at_, _, mark, _, bar_close in points:
        for side, spec in specs.items():
            fund = expected[side]
            if fund.wiped_out and fund.units == 0 and not fund.pending:
                expected[side] = lt.new_token(spec, at_, mark)  # the runner relaunches it
                continue
            expected[side], done = lt.on_price(spec, fund, at_, mark, bar_close=bar_close)
            records.extend(done.fills, done.fees, done.events)
    runner.drain()
    runner.on_path(points)
    assert runner.funds == expected
    assert runner.drain() == records
    assert not any(math.isnan(f.nav) for f in expected.values())
