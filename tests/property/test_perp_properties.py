"""Properties of the perp, perp_static and spot vehicles over random prices and signals.

The account keeps NAV = cash + unrealised PnL. These tests rebuild the NAV independently from
the ledger records the transitions emitted (fills, fee records, position rows) and check that
capital + realised + unrealised - all fees (trading, slippage, funding) = NAV to 1e-9 relative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.ccxt.tiers import bundled_tiers
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_account import (
    Bookings,
    PerpAccount,
    on_bar,
    on_price,
)
from bot.domain.perp_funding import FundingGuard, apply_funding
from bot.domain.perp_signals import apply_perp_signal, apply_static_signal
from bot.domain.records import FeeRecord, FillRecord, PositionRecord
from bot.domain.sizing import default_rules
from bot.domain.spot import SpotParams, apply_spot_signal
from bot.domain.values import FeeKind, Side
from tests.hypothesis_profiles import examples

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT:USDT"
TIERS = bundled_tiers()[SYMBOL]
PERP_RULES = default_rules(SYMBOL)
SPOT_RULES = default_rules("BTC/USDT")

perp_params = st.builds(
    PerpParams,
    risk_pct=st.floats(0.02, 0.05),
    fee_aware=st.booleans(),
    stop_trigger=st.sampled_from(["last", "mark"]),
    slippage_bps=st.floats(0.0, 20.0),
    trailing_pct=st.none() | st.floats(0.005, 0.2),
    max_leverage=st.just(50.0),
    leverage=st.none() | st.integers(1, 50).map(float),
)
vehicles = st.one_of(
    perp_params,
    st.builds(StaticPerpParams, leverage=st.floats(1.0, 10.0), slippage_bps=st.floats(0, 20)),
    st.builds(SpotParams, slippage_bps=st.floats(0.0, 20.0)),
)
moves = st.floats(-0.08, 0.08)
actions = st.one_of(
    st.tuples(st.just("bar"), moves, moves, st.floats(0.0, 0.08), st.floats(0.0, 0.08)),
    st.tuples(st.just("tick"), moves, st.floats(-0.01, 0.01)),
    # gaps: the price jumps, possibly through the liquidation and the bankruptcy price
    st.tuples(st.just("tick"), st.floats(-0.6, 0.6), st.floats(-0.01, 0.01)),
    st.tuples(
        st.just("signal"),
        st.sampled_from([Side.LONG, Side.SHORT, None]),
        st.floats(0.002, 0.3),
        st.none() | st.floats(0.5, 5.0),
    ),
    # funding up to 5 % a settlement (Binance caps most symbols at 2 to 3 %), enough to eat
    # a margin in a few settlements and liquidate by funding alone
    st.tuples(st.just("funding"), st.floats(-0.05, 0.05), st.booleans()),
)


@dataclass
class Run:
    """An account driven by actions, with every record it emitted."""

    vehicle: Any
    account: PerpAccount
    at: datetime = T0
    last: float = 0.0
    mark: float = 0.0
    funding_at: datetime = T0
    fills: list[FillRecord] = field(default_factory=list)
    fees: list[FeeRecord] = field(default_factory=list)
    positions: dict[str, PositionRecord] = field(default_factory=dict)

    def book(self, result: tuple[PerpAccount, Bookings]) -> None:
        self.account, bookings = result
        self.fills += bookings.fills
        self.fees += bookings.fees
        self.positions |= {p.id: p for p in bookings.positions}

    def act(self, action: tuple[Any, ...]) -> None:
        self.at += timedelta(minutes=5)
        getattr(self, "_" + action[0])(*action[1:])

    def _bar(self, r_open: float, r_close: float, up: float, down: float) -> None:
        open_, close = self.last * (1 + r_open), self.last * (1 + r_open) * (1 + r_close)
        high, low = max(open_, close) * (1 + up), min(open_, close) * (1 - down)
        self.book(on_bar(self.account, self.at, open_, high, low, close))
        self.last = self.mark = close

    def _tick(self, r_last: float, basis: float) -> None:
        self.last *= 1 + r_last
        self.mark = self.last * (1 + basis)
        self.book(on_price(self.account, self.at, self.last, self.mark))

    def _signal(self, side: Side | None, distance: float, tp: float | None) -> None:
        price, v, acc = self.last, self.vehicle, self.account
        if isinstance(v, SpotParams):
            self.book(apply_spot_signal(acc, self.at, side, price, v, SPOT_RULES))
        elif isinstance(v, StaticPerpParams):
            self.book(apply_static_signal(acc, self.at, side, price, v, PERP_RULES, TIERS))
        else:
            sign = 0.0 if side is None else float(side)
            stop = price * (1 - sign * min(distance, 0.9))
            take = None if tp is None else price * (1 + sign * distance * tp)
            result = apply_perp_signal(acc, self.at, side, price, stop, take, v, PERP_RULES, TIERS)
            self.book(result)

    def _funding(self, rate: float, repeat: bool) -> None:
        # Settlements move forward; `repeat` re-sends the previous one (overlapping polls).
        if not repeat:
            self.funding_at = self.at
        v = self.vehicle
        guard = (
            FundingGuard(v.liquidation_buffer, PERP_RULES) if isinstance(v, PerpParams) else None
        )
        self.book(
            apply_funding(self.account, self.funding_at, rate, self.mark, tiers=TIERS, guard=guard)
        )


def ledger_nav(run: Run) -> float:
    """NAV from the ledger alone: cash flows of the fills at executed prices, the open quantity
    at the mark (the last price for spot), minus trading fees and funding."""
    cash = run.account.capital
    for fill in run.fills:
        cash += (fill.qty if fill.side == "sell" else -fill.qty) * fill.price - fill.fee
    cash -= sum(f.amount for f in run.fees if f.kind is FeeKind.FUNDING)
    pos = run.account.position
    if pos is None:
        return cash
    price = run.last if pos.margin is None else run.mark
    return cash + float(pos.side) * pos.qty * price


def assert_isolated_money(run: Run, nav: float, capital: float) -> None:
    """Isolated margin: NAV >= 0, and no closed position lost more than its margin + fees."""
    assert nav >= -1e-9 * capital
    if isinstance(run.vehicle, SpotParams):
        return
    fee = PERP_RULES.taker_fee + run.vehicle.slippage_bps / 10_000.0 * 2.0
    for p in run.positions.values():
        assert p.margin is not None and p.liq_price is not None  # never NULL for a perp
        if p.pnl is not None and p.exit_price is not None:
            fees = p.qty * (p.entry + p.exit_price) * fee
            assert -p.pnl <= p.margin + fees + 1e-9 * capital, p


def close_enough(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * max(scale, abs(a), abs(b))


@settings(max_examples=examples(300), deadline=None)
@given(
    vehicle=vehicles,
    capital=st.floats(1_000.0, 100_000.0),
    start=st.floats(100.0, 100_000.0),
    steps=st.lists(actions, max_size=40),
)
def test_capital_plus_pnl_minus_fees_is_nav(
    vehicle: Any, capital: float, start: float, steps: list[tuple[Any, ...]]
) -> None:
    run = Run(
        vehicle, PerpAccount(SYMBOL, capital, pays_funding=not isinstance(vehicle, SpotParams))
    )
    run.last = run.mark = start
    for action in steps:
        run.act(action)
        acc = run.account
        price = run.last if acc.position is not None and acc.position.margin is None else run.mark
        nav = acc.nav(price)
        fees = sum(f.amount for f in run.fees)
        # The DESIGN identity, with every fee taken from the emitted fee records.
        assert close_enough(
            acc.capital + acc.realised_pnl + acc.unrealised(price) - fees, nav, capital
        )
        # The same NAV rebuilt from fills and funding records only.
        assert close_enough(ledger_nav(run), nav, capital)
        # Trading and clearance fees in fee records match the fees on the fills.
        on_fills = (FeeKind.TRADING, FeeKind.LIQUIDATION)
        trading = sum(f.amount for f in run.fees if f.kind in on_fills)
        assert close_enough(trading, sum(f.fee for f in run.fills), capital)
        assert_isolated_money(run, nav, capital)
        # Per-position attribution: closed rows' net PnL + the open one's = NAV - capital.
        closed = sum(p.pnl for p in run.positions.values() if p.pnl is not None)
        open_net = 0.0 if acc.position is None else acc.unrealised(price) - acc.position.costs
        assert close_enough(acc.capital + closed + open_net, nav, capital)


@settings(max_examples=examples(200), deadline=None)
@given(
    risk_pct=st.floats(0.02, 0.05),
    side=st.sampled_from([Side.LONG, Side.SHORT]),
    start=st.floats(1_000.0, 100_000.0),
    distance=st.floats(0.003, 0.2),
    overshoot=st.floats(0.0, 0.05),
)
def test_a_stop_hit_without_a_gap_loses_at_most_the_intended_risk(
    risk_pct: float, side: Side, start: float, distance: float, overshoot: float
) -> None:
    params = PerpParams(risk_pct=risk_pct, max_leverage=50)
    stop = start * (1 - float(side) * distance)
    acc, opened = apply_perp_signal(
        PerpAccount(SYMBOL, 10_000.0), T0, side, start, stop, None, params, PERP_RULES, TIERS
    )
    if acc.position is None:
        return  # refused below the minimum notional
    beyond = stop * (1 - float(side) * overshoot)
    high, low = (start, beyond) if side is Side.LONG else (beyond, start)
    acc, _ = on_bar(acc, T0, start, high, low, beyond)
    loss = 10_000.0 - acc.cash
    assert acc.position is None
    assert loss == pytest.approx(opened.positions[0].effective_risk, rel=1e-9)
    assert loss <= 10_000.0 * risk_pct * (1 + 1e-12)
