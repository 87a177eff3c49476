"""Risk sizing (MECHANICS §10), lot rounding, minimum notional, market rules and PerpParams."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest

from bot.adapters.ccxt.market_rules import rules_for, rules_from_ccxt_market
from bot.domain.liquidation import Tier, validate_tiers
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_account import PerpAccount
from bot.domain.perp_signals import apply_perp_signal
from bot.domain.sizing import (
    USDM_RULES,
    MarketRules,
    RiskOrder,
    default_rules,
    loss_per_unit,
    round_down_to_step,
    size_by_risk,
    spot_symbol,
    stop_from_pct,
)
from bot.domain.spot import SpotParams
from bot.domain.values import Side

BTC = USDM_RULES["BTC/USDT:USDT"]
NO_FEES = MarketRules(lot_step=0.001, min_notional=5.0, taker_fee=0.0, maker_fee=0.0)


def exchange_info() -> Any:
    """The bundled GET /fapi/v1/exchangeInfo (BTCUSDT, ETHUSDT; 2025-12-24)."""
    path = resources.files("bot").joinpath("data", "exchange_info_btc_eth.json")
    return json.loads(path.read_text(encoding="utf-8"))


def order(**changes: Any) -> RiskOrder:
    base: dict[str, Any] = dict(
        side=Side.LONG, entry=50_000.0, stop=49_000.0, equity=10_000.0, risk_pct=0.02,
        max_notional=100_000.0, fee=0.0005, slippage=0.0, fee_aware=False,
    )  # fmt: skip
    return RiskOrder(**(base | changes))


def test_worked_example_of_section_10() -> None:
    # [PS-WEB]: 10,000 USDT, 1 % risk, long ETH at 3,000, stop 2,880: qty = 100 / 120 = 0.8333,
    # floored to the 0.001 lot: 0.833 (notional 2,499).
    sizing = size_by_risk(
        order(entry=3_000.0, stop=2_880.0, risk_pct=0.01, fee=0.0), USDM_RULES["ETH/USDT:USDT"]
    )
    assert sizing.qty == 0.833
    assert sizing.intended_risk == 100.0
    assert sizing.effective_risk == pytest.approx(0.833 * 120.0)


def test_plain_sizing_divides_risk_by_the_stop_distance() -> None:
    # 2 % of 10,000 = 200 USDT over a 1,000 USDT distance: 0.2 BTC.
    sizing = size_by_risk(order(), BTC)
    assert sizing.qty == 0.2
    # Effective risk adds the fees: 0.2 x (1,000 + 0.0005 x 50,000 + 0.0005 x 49,000) = 209.9.
    assert sizing.effective_risk == pytest.approx(209.9)


def test_fee_aware_sizing_puts_fees_and_slippage_inside_the_risk() -> None:
    # Per unit at the stop: 1,000 + 50,000 x (0.0002 + 0.0005 x 1.0002)
    #                            + 49,000 x (0.0002 + 0.0005 x 0.9998)
    #                     = 1,000 + 35.005 + 34.2951 = 1,069.3001; 200 / 1,069.3001 = 0.18704.
    per_unit = 1_000 + 50_000 * (0.0002 + 0.0005 * 1.0002) + 49_000 * (0.0002 + 0.0005 * 0.9998)
    assert loss_per_unit(Side.LONG, 50_000.0, 49_000.0, 0.0005, 0.0002) == pytest.approx(per_unit)
    sizing = size_by_risk(order(fee_aware=True, slippage=0.0002), BTC)
    assert sizing.qty == round_down_to_step(200.0 / per_unit, 0.001) == 0.187
    assert sizing.effective_risk == pytest.approx(0.187 * 1_069.3001)
    assert sizing.effective_risk <= sizing.intended_risk


def test_fee_aware_formula_without_slippage_is_the_one_of_section_10() -> None:
    # |entry - stop| + fee_in x entry + fee_out x stop, for a short this time.
    assert loss_per_unit(Side.SHORT, 3_000.0, 3_100.0, 0.0005, 0.0) == pytest.approx(
        100.0 + 1.5 + 1.55
    )


def test_size_is_capped_at_max_notional() -> None:
    # 200 USDT risk over a 100 USDT distance wants 2 BTC (100,000 USDT); the cap is 3x 10,000.
    sizing = size_by_risk(order(stop=49_900.0, max_notional=30_000.0, fee=0.0), NO_FEES)
    assert sizing.capped
    assert sizing.qty == 0.6
    assert sizing.effective_risk == pytest.approx(60.0)


def test_below_minimum_notional_is_refused() -> None:
    # 2 % of 200 = 4 USDT over 1,000: 0.004 BTC = 200 USDT ok; of 50: 0.001 BTC = 50 < 100.
    assert size_by_risk(order(equity=200.0, fee=0.0), BTC).qty == 0.004
    refused = size_by_risk(order(equity=50.0, fee=0.0), BTC)
    assert refused.qty == 0.0
    assert refused.refused == "notional 50.00 USDT below the minimum 100 USDT"


@pytest.mark.parametrize(
    ("side", "stop", "message"),
    [
        (Side.LONG, 51_000.0, "stop 51000.0 must be below the entry 50000.0 for a long"),
        (Side.LONG, 50_000.0, "must be below the entry"),
        (Side.SHORT, 49_000.0, "stop 49000.0 must be above the entry 50000.0 for a short"),
        (Side.SHORT, 0.0, "stop must be a price > 0"),
    ],
)
def test_stop_on_the_wrong_side_or_at_zero_distance_is_an_error(
    side: Side, stop: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        size_by_risk(order(side=side, stop=stop), BTC)


@pytest.mark.parametrize(
    ("qty", "step", "expected"),
    [(0.19999999999999998, 0.001, 0.2), (0.8333, 0.001, 0.833), (0.0009, 0.001, 0.0),
     (1.23456, 0.0, 1.23456), (7.9, 1.0, 7.0)],
)  # fmt: skip
def test_round_down_to_step(qty: float, step: float, expected: float) -> None:
    assert round_down_to_step(qty, step) == expected


def test_default_risk_bounds_are_two_to_five_percent() -> None:
    assert PerpParams().risk_pct == 0.02
    assert PerpParams(risk_pct=0.05).risk_pct == 0.05
    for bad in (0.019, 0.051, 0.5):
        with pytest.raises(ValueError, match=r"^risk_pct must be in \[0.02, 0.05\]"):
            PerpParams(risk_pct=bad)


def test_risk_bounds_can_be_widened_on_purpose() -> None:
    params = PerpParams(risk_pct=0.01, risk_bounds="0.005..0.1")  # type: ignore[arg-type]
    assert params.risk_bounds == (0.005, 0.1)
    assert PerpParams(risk_pct=0.1, risk_bounds=(0.01, 0.1)).risk_pct == 0.1
    with pytest.raises(ValueError, match="^risk_bounds"):
        PerpParams(risk_bounds="0.1")  # type: ignore[arg-type]


def test_params_accept_numbers_given_as_text() -> None:
    params = PerpParams(risk_pct="0.03", slippage_bps="5", fee_aware="false")  # type: ignore[arg-type]
    assert (params.risk_pct, params.slippage_bps, params.fee_aware) == (0.03, 5.0, False)
    assert StaticPerpParams(leverage="3").leverage == 3.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (PerpParams, {"stop_trigger": "index"}, "stop_trigger"),
        (PerpParams, {"max_leverage": 0.5}, "max_leverage"),
        (PerpParams, {"leverage": 20}, "leverage"),
        (PerpParams, {"taker_fee": 0.5}, "taker_fee"),
        (PerpParams, {"liquidation_buffer": 1.0}, "liquidation_buffer"),
        (PerpParams, {"trailing_pct": 0.0}, "trailing_pct"),
        (PerpParams, {"slippage_bps": "lots"}, "slippage_bps"),
        (PerpParams, {"fee_aware": 1}, "fee_aware"),
        (StaticPerpParams, {"leverage": 0}, "leverage"),
        (SpotParams, {"taker_fee": -0.001}, "taker_fee"),
        (SpotParams, {"slippage_bps": True}, "slippage_bps"),
    ],
)
def test_invalid_params_name_the_parameter(factory: Any, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} ") as error:
        factory(**kwargs)
    assert "\n" not in str(error.value)


def test_vehicle_strings_build_the_params() -> None:
    from bot.config.vehicles import build_vehicle_params

    perp = build_vehicle_params("perp", {"risk_pct": 0.05, "stop_trigger": "mark"})
    assert perp == PerpParams(risk_pct=0.05, stop_trigger="mark")
    assert build_vehicle_params("perp_static", {"leverage": 3}) == StaticPerpParams(leverage=3.0)
    assert build_vehicle_params("spot", {}) == SpotParams(taker_fee=0.001)


def test_offline_defaults_agree_with_the_bundled_exchange_info() -> None:
    info = exchange_info()
    for symbol in info["symbols"]:
        filters = {f["filterType"]: f for f in symbol["filters"]}
        rules = default_rules(f"{symbol['baseAsset']}/USDT:USDT")
        assert rules.lot_step == float(filters["LOT_SIZE"]["stepSize"])
        assert rules.lot_step == float(filters["MARKET_LOT_SIZE"]["stepSize"])
        assert rules.min_notional == float(filters["MIN_NOTIONAL"]["notional"])


def test_default_rules_for_spot_and_unknown_symbols() -> None:
    assert default_rules("BTC/USDT") == MarketRules(0.00001, 5.0, 0.001, 0.001)
    # liquidationFee: 0.015 is the most common value of exchangeInfo 2025-12-24
    assert default_rules("DOGE/USDT:USDT") == MarketRules(0.0, 5.0, 0.0005, 0.0002, 0.015)
    assert spot_symbol("ETH/USDT:USDT") == "ETH/USDT"


def test_rules_from_a_ccxt_market() -> None:
    market = {
        "symbol": "BTC/USDT:USDT",
        "precision": {"amount": 0.001, "price": 0.1},
        "limits": {"cost": {"min": 100.0, "max": None}},
        "taker": 0.0004,
        "maker": 0.0002,
        "info": {"symbol": "BTCUSDT", "liquidationFee": "0.012500"},
    }
    assert rules_from_ccxt_market(market) == MarketRules(0.001, 100.0, 0.0004, 0.0002, 0.0125)
    # Missing fields fall back to the offline defaults.
    assert rules_from_ccxt_market({"symbol": "ETH/USDT:USDT"}) == USDM_RULES["ETH/USDT:USDT"]
    assert rules_for("BTC/USDT:USDT", {}) == BTC


def test_rules_from_markets_parsed_by_real_ccxt() -> None:
    ccxt = pytest.importorskip("ccxt")
    info = exchange_info()
    markets = {m["symbol"]: m for m in ccxt.binanceusdm().parse_markets(info["symbols"])}
    assert rules_for("BTC/USDT:USDT", markets) == BTC
    assert rules_for("ETH/USDT:USDT", markets) == USDM_RULES["ETH/USDT:USDT"]


# -- stop_pct: a stop as a fraction of the entry's fill price (issue 17 point 7) -------------

ETH_TIERS = [Tier(0.0, 1e9, 0.004, 0.0, 125)]  # one wide tier: the liquidation price is far away
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_stop_from_pct_is_below_a_long_fill_and_above_a_short_fill() -> None:
    assert stop_from_pct(Side.LONG, 3_000.0, 0.04) == pytest.approx(2_880.0)
    assert stop_from_pct(Side.SHORT, 3_000.0, 0.04) == pytest.approx(3_120.0)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.04, 1.5, math.nan, math.inf])
def test_stop_pct_outside_zero_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="stop_pct must be a fraction > 0 and < 1"):
        stop_from_pct(Side.LONG, 3_000.0, bad)


@pytest.mark.parametrize("bad", [True, "0.04", None])
def test_stop_pct_that_is_no_number_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="stop_pct must be a number"):
        stop_from_pct(Side.LONG, 3_000.0, bad)


def eth_signal(
    side: Side, stop: float | None, stop_pct: float | None, **params: Any
) -> PerpAccount:
    base: dict[str, Any] = dict(
        risk_pct=0.01, risk_bounds=(0.01, 0.05), fee_aware=False, slippage_bps=0.0, taker_fee=0.0
    )
    perp = PerpParams(**{**base, **params})
    rules = USDM_RULES["ETH/USDT:USDT"]  # lot 0.001 ETH
    acc, _ = apply_perp_signal(
        PerpAccount("ETH/USDT:USDT", 10_000.0), T0, side, 3_000.0, stop, None, perp, rules,
        validate_tiers(ETH_TIERS), stop_pct,
    )  # fmt: skip
    return acc


def test_stop_pct_sizes_like_the_mechanics_worked_example() -> None:
    # MECHANICS §10: 10,000 USDT, 1 % risk, long ETH at 3,000, stop 2,880 -> qty 0.833
    # (100 / 120 = 0.8333 rounded down to the 0.001 lot), notional 2,499. stop_pct 0.04 of the
    # 3,000 fill (no slippage) is that very stop.
    position = eth_signal(Side.LONG, None, 0.04).position
    assert position is not None
    assert position.stop == pytest.approx(2_880.0)
    assert position.qty == pytest.approx(0.833)
    assert position.qty * position.entry == pytest.approx(2_499.0)
    # The same signal with the absolute stop gives the same position.
    absolute = eth_signal(Side.LONG, 2_880.0, None).position
    assert absolute is not None and absolute.qty == position.qty


def test_stop_pct_of_a_short_and_with_slippage_is_measured_from_the_fill() -> None:
    # Short at 3,000 with 10 bp slippage: the sell fills at 3,000 x 0.999 = 2,997, so the stop
    # is 2,997 x 1.04 = 3,116.88; plain sizing: 100 / (3,116.88 - 3,000) = 0.8556 -> 0.855.
    position = eth_signal(Side.SHORT, None, 0.04, slippage_bps=10.0).position
    assert position is not None
    assert position.stop == pytest.approx(3_116.88)
    assert position.qty == pytest.approx(0.855)


def test_a_signal_with_both_stops_or_neither_is_refused() -> None:
    with pytest.raises(ValueError, match="takes a stop or a stop_pct, not both"):
        eth_signal(Side.LONG, 2_880.0, 0.04)
    with pytest.raises(ValueError, match="needs a stop price or a stop_pct"):
        eth_signal(Side.LONG, None, None)
