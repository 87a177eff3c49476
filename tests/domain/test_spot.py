"""The spot vehicle: 1x, long only, spot fee 0.1 %, no funding, no liquidation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.perp_account import Bookings, PerpAccount, nav_terms, on_bar
from bot.domain.perp_funding import apply_funding
from bot.domain.sizing import default_rules
from bot.domain.spot import SpotParams, apply_spot_signal, new_spot_account
from bot.domain.values import FeeKind, FillReason, Refusal, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=8)
RULES = default_rules("BTC/USDT")  # lot 0.00001 BTC, min notional 5 USDT
PARAMS = SpotParams()  # taker 0.1 %, slippage 2 bp


def bought() -> tuple[PerpAccount, Bookings]:
    return apply_spot_signal(
        new_spot_account("BTC/USDT:USDT", 10_000.0), T0, Side.LONG, 50_000.0, PARAMS, RULES
    )


def test_long_signal_spends_the_cash_fee_included() -> None:
    acc, booked = bought()
    # qty = floor(10,000 / (50,010 x 1.001), 0.00001) = floor(0.1997602...) = 0.19976 BTC.
    (fill,) = booked.fills
    assert (fill.instrument, fill.side, fill.qty, fill.price) == (
        "BTC/USDT",
        "buy",
        0.19976,
        50_010.0,
    )
    assert fill.fee == pytest.approx(0.19976 * 50_010.0 * 0.001)
    assert [f.kind for f in booked.fees] == [FeeKind.TRADING, FeeKind.SLIPPAGE]
    record = nav_terms(acc).record(T0, 50_000.0)
    # Free cash = 10,000 - 0.19976 x 50,010 - fee >= 0; NAV = cash + holding value.
    assert record.cash == pytest.approx(10_000.0 - 0.19976 * 50_010.0 - fill.fee)
    assert record.cash >= 0.0
    assert record.nav == pytest.approx(record.cash + 0.19976 * 50_000.0)
    assert record.leverage == pytest.approx(1.0, abs=1e-3)


def test_round_trip_pnl_is_price_gain_minus_fees_and_slippage() -> None:
    acc, _ = bought()
    acc, sold = apply_spot_signal(acc, T1, None, 55_000.0, PARAMS, RULES)
    q = 0.19976
    # Sell fill 55,000 x 0.9998 = 54,989; fees 0.1 % of each executed notional.
    costs = (
        q * 50_010.0 * 0.001 + q * 54_989.0 * 0.001 + q * 50_000.0 * 0.0002 + q * 55_000.0 * 0.0002
    )
    assert sold.fills[0].price == pytest.approx(54_989.0)
    assert sold.positions[0].pnl == pytest.approx(q * 5_000.0 - costs)
    assert acc.cash == pytest.approx(10_000.0 + q * 5_000.0 - costs)


def test_short_signal_goes_flat_and_never_short() -> None:
    acc, _ = bought()
    flat, sold = apply_spot_signal(acc, T1, Side.SHORT, 49_000.0, PARAMS, RULES)
    assert flat.position is None and sold.fills[0].reason is FillReason.EXIT
    still_flat, nothing = apply_spot_signal(flat, T1, Side.SHORT, 49_000.0, PARAMS, RULES)
    assert still_flat == flat and nothing == Bookings()


def test_long_signal_while_holding_does_nothing() -> None:
    acc, _ = bought()
    assert apply_spot_signal(acc, T1, Side.LONG, 51_000.0, PARAMS, RULES) == (acc, Bookings())


def test_spot_pays_no_funding_and_cannot_be_liquidated() -> None:
    acc, _ = bought()
    funded, booked = apply_funding(acc, T1, 0.001, 50_000.0, tiers=())
    assert booked == Bookings() and funded.funding == 0.0
    crashed, nothing = on_bar(acc, T1, 50_000.0, 50_000.0, 1_000.0, 2_000.0)
    assert crashed.position is not None and nothing == Bookings()
    assert crashed.nav(2_000.0) > 0.0


def test_too_little_cash_is_refused() -> None:
    acc, refused = apply_spot_signal(
        new_spot_account("BTC/USDT:USDT", 4.0), T0, Side.LONG, 50_000.0, PARAMS, RULES
    )
    assert acc.position is None
    assert refused.notes[0].startswith("entry refused: notional")
    assert refused.refusals == (Refusal.MIN_NOTIONAL,)


def test_spot_fee_default_is_a_tenth_of_a_percent() -> None:
    assert SpotParams().taker_fee == 0.001
    assert SpotParams(taker_fee="0.00075").taker_fee == 0.00075  # type: ignore[arg-type]
