"""The §12 preset registry: names, per-side specs, sourced numbers, overrides and their errors."""

from __future__ import annotations

import re

import pytest
import typer

from bot.cli.presets import presets_command
from bot.config.vehicles import parse_vehicle
from bot.domain.rebalance_rules import (
    AnyOf,
    Band,
    DailyCheck,
    DailyReset,
    LeverageAbove,
    MoveSinceRebalance,
    RuleContext,
    Tolerance,
)
from bot.domain.token_presets import preset_doc, preset_names, token_spec
from bot.domain.token_spec import daily_rule, intraday_rule, quiet_zone
from bot.domain.values import Side

REQUIRED = [
    "binance_blvt",
    "ftx",
    "ftx_hedge",
    "ftx_half",
    "bybit",
    "kucoin",
    "gate",
    "gate_float",
    "gate_legacy",
    "gate_5x",
    "mexc",
    "ideal_daily",
    "ideal_continuous",
]


def test_registry_holds_every_required_family() -> None:
    assert set(REQUIRED) <= set(preset_names())


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
def test_each_family_builds_a_spec_per_side(name: str, side: Side) -> None:
    spec = token_spec(name, side)
    fixed = {"ftx_hedge": Side.SHORT, "ftx_half": Side.LONG}.get(name)
    assert spec.family == name
    assert spec.side == (fixed or side)
    assert spec.leverage == float(spec.side) * spec.target_leverage


@pytest.mark.parametrize("name", REQUIRED)
def test_each_family_documents_sources_or_assumptions(name: str) -> None:
    doc = preset_doc(name)
    assert re.search(r"\[[A-Z0-9-]+\]|assumption|MECHANICS", doc), doc


# name, side, field, value: the numbers of MECHANICS §1-§6 and §12.
SOURCED = [
    ("binance_blvt", Side.LONG, "band_lo", 1.25),
    ("binance_blvt", Side.LONG, "band_hi", 4.0),
    ("binance_blvt", Side.SHORT, "subscription_fee_pct", 0.001),
    ("binance_blvt", Side.SHORT, "redemption_fee_pct", 0.001),
    ("binance_blvt", Side.LONG, "management_fee_pct", 0.0001),
    ("binance_blvt", Side.LONG, "management_time", "00:00:00"),
    ("binance_blvt", Side.LONG, "daily_time", None),
    ("binance_blvt", Side.LONG, "target_leverage", 2.25),
    ("binance_blvt", Side.SHORT, "target_leverage", 2.25),
    ("binance_blvt", Side.SHORT, "tolerance", 0.25),
    ("ftx", Side.LONG, "daily_time", "00:02:00"),
    ("ftx", Side.SHORT, "max_leverage", 4.0),
    ("ftx", Side.LONG, "management_fee_pct", 0.0003),
    ("ftx", Side.LONG, "subscription_fee_pct", 0.001),
    ("ftx_hedge", Side.SHORT, "target_leverage", 1.0),
    ("ftx_half", Side.LONG, "target_leverage", 0.5),
    ("bybit", Side.LONG, "band_lo", 2.0),
    ("bybit", Side.SHORT, "band_hi", 4.0),
    ("bybit", Side.LONG, "subscription_fee_pct", 0.0005),
    ("bybit", Side.LONG, "redemption_fee_pct", 0.0005),
    ("bybit", Side.LONG, "management_fee_pct", 0.00005),
    ("bybit", Side.LONG, "spot_fee_pct", 0.001),
    ("bybit", Side.LONG, "monitoring", "continuous"),
    ("kucoin", Side.LONG, "daily_time", "23:30:00"),
    ("kucoin", Side.SHORT, "rebalance_minutes", 15.0),
    ("kucoin", Side.SHORT, "move_trigger_pct", 0.15),
    ("kucoin", Side.LONG, "management_fee_pct", 0.0005),
    ("kucoin", Side.LONG, "management_time", "23:45:00"),
    ("gate", Side.LONG, "daily_time", "16:00:00"),
    ("gate", Side.LONG, "daily_lo", 2.0),
    ("gate", Side.LONG, "daily_hi", 4.0),
    ("gate", Side.LONG, "daily_move_pct", 0.01),
    ("gate", Side.SHORT, "move_trigger_pct", 0.20),
    ("gate", Side.LONG, "management_fee_pct", 0.001),
    ("gate", Side.LONG, "funding_pass_through", False),
    ("gate_float", Side.LONG, "band_lo", 2.25),
    ("gate_float", Side.LONG, "band_hi", 4.125),
    ("gate_float", Side.SHORT, "band_lo", 1.5),
    ("gate_float", Side.SHORT, "band_hi", 5.25),
    ("gate_legacy", Side.LONG, "target_leverage", 2.3),
    ("gate_legacy", Side.LONG, "daily_lo", 1.8),
    ("gate_legacy", Side.LONG, "max_leverage", 3.0),
    ("gate_5x", Side.SHORT, "target_leverage", 5.0),
    ("gate_5x", Side.LONG, "daily_lo", 3.5),
    ("gate_5x", Side.LONG, "max_leverage", 7.0),
    ("mexc", Side.LONG, "daily_time", "16:00:00"),
    ("mexc", Side.SHORT, "move_trigger_pct", 0.15),
    ("mexc", Side.LONG, "split_threshold_nav", 0.1),
    ("mexc", Side.LONG, "split_ratio", 10.0),
    ("ideal_daily", Side.LONG, "management_fee_pct", 0.0),
    ("ideal_continuous", Side.SHORT, "always_rebalance", True),
]


@pytest.mark.parametrize(("name", "side", "field", "value"), SOURCED)
def test_preset_numbers_match_mechanics(name: str, side: Side, field: str, value: object) -> None:
    assert getattr(token_spec(name, side), field) == value


def test_rules_compose_from_the_flat_fields() -> None:
    ftx = token_spec("ftx", Side.LONG)
    assert intraday_rule(ftx) == AnyOf((LeverageAbove(4.0),))
    assert daily_rule(ftx) == DailyReset("00:02:00")
    kucoin = token_spec("kucoin", Side.SHORT)
    assert intraday_rule(kucoin) == AnyOf((MoveSinceRebalance(0.15, adverse_only=True),))
    assert intraday_rule(token_spec("bybit", Side.LONG)) == AnyOf((Band(2.0, 4.0),))
    gate_rule = daily_rule(token_spec("gate", Side.LONG))
    assert isinstance(gate_rule, DailyCheck)
    assert gate_rule.fires(RuleContext(leverage=4.1, target=3.0, move=0.0))
    assert gate_rule.fires(RuleContext(leverage=3.0, target=3.0, move=-0.011))
    assert not gate_rule.fires(RuleContext(leverage=3.5, target=3.0, move=0.009))


def test_overrides_replace_fields_after_coercion() -> None:
    spec = token_spec(
        "binance_blvt",
        Side.LONG,
        {
            "target_leverage": 3,
            "band_hi": "4.5",
            "daily_time": "1:30",
            "monitoring": "bar_close",
            "split_threshold_nav": None,
            "funding_pass_through": "false",
        },
    )
    assert spec.target_leverage == 3.0 and isinstance(spec.target_leverage, float)
    assert spec.band_hi == 4.5
    assert spec.daily_time == "01:30:00"
    assert spec.monitoring == "bar_close"
    assert spec.funding_pass_through is False


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("ftxx", {}, "unknown preset 'ftxx'"),
        ("ftx", {"foo": 1}, "unknown parameter 'foo' for preset 'ftx'"),
        ("ftx", {"side": "long"}, "unknown parameter 'side' for preset 'ftx'"),
        ("ftx", {"target_leverage": "three"}, "bad value for 'target_leverage'"),
        ("ftx", {"target_leverage": -3}, "target_leverage must be a finite number > 0"),
        ("ftx", {"management_fee_pct": 1.5}, "management_fee_pct must be a fraction"),
        ("ftx", {"daily_time": "25:00"}, "time of day out of range"),
        ("ftx", {"monitoring": "hourly"}, "monitoring must be one of"),
        ("ftx", {"max_leverage": True}, "expected a number"),
        ("bybit", {"band_lo": 5.0}, "band needs 0 <= lo < hi"),
        ("mexc", {"split_ratio": 1}, "split_ratio must be > 1"),
        ("binance_blvt", {"tolerance": 0}, "tolerance must be > 0"),
        ("binance_blvt", {"target_leverage": 4}, "target_leverage 4 is outside"),
        ("binance_blvt", {"target_leverage": 1.25}, "target_leverage 1.25 is outside"),
        ("binance_blvt", {"target_leverage_long": 4.5}, "target_leverage 4.5 is outside"),
        ("binance_blvt", {"tolerance_long": "x"}, "bad value for 'tolerance'"),
        ("binance_blvt", {"foo_short": 1}, "unknown parameter 'foo_short'"),
        ("binance_blvt", {"side_long": 1}, "unknown parameter 'side_long'"),
        ("ftx", {"max_leverage": 3}, "target_leverage 3 is outside"),
    ],
)
def test_bad_presets_and_overrides_raise_one_line_errors(
    name: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        token_spec(name, Side.LONG, overrides)
    assert "\n" not in str(caught.value)


def test_side_overrides_set_one_side_after_the_plain_names() -> None:
    # The vehicle string's overrides go to both sides; `_long` / `_short` to one, last.
    overrides = {"tolerance": 0.1, "target_leverage": 2.0, "target_leverage_short": 1.8}
    long = token_spec("binance_blvt", Side.LONG, overrides)
    short = token_spec("binance_blvt", Side.SHORT, overrides)
    assert (long.target_leverage, long.tolerance) == (2.0, 0.1)
    assert (short.target_leverage, short.tolerance, short.leverage) == (1.8, 0.1, -1.8)
    # A one-sided family takes its own side's key only.
    hedge = token_spec("ftx_hedge", Side.LONG, {"max_leverage_long": 9, "max_leverage_short": 1.5})
    assert hedge.max_leverage == 1.5


def test_a_vehicle_string_carries_side_overrides_and_a_reset_time() -> None:
    vehicle = parse_vehicle(
        "token:binance_blvt:target_leverage_long=2.1,tolerance=0.1,daily_time=00:00"
    )
    assert vehicle.params == {"target_leverage_long": 2.1, "tolerance": 0.1, "daily_time": "00:00"}
    assert parse_vehicle(vehicle.label) == vehicle
    long = token_spec("binance_blvt", Side.LONG, vehicle.params)
    short = token_spec("binance_blvt", Side.SHORT, vehicle.params)
    assert (long.target_leverage, short.target_leverage) == (2.1, 2.25)
    assert long.daily_time == short.daily_time == "00:00:00"
    assert daily_rule(long) == DailyReset("00:00:00")
    # A short-only value the short side refuses is caught when the vehicle is parsed.
    with pytest.raises(ValueError, match="target_leverage 4.5 is outside"):
        parse_vehicle("token:binance_blvt:target_leverage_short=4.5")
    with pytest.raises(ValueError, match="too many ':'"):
        parse_vehicle("token:binance_blvt:x:tolerance=0.1")


def test_blvt_rules_are_a_tolerance_inside_the_emergency_band() -> None:
    spec = token_spec("binance_blvt", Side.SHORT)
    assert intraday_rule(spec) == AnyOf((Band(1.25, 4.0), Tolerance(2.25, 0.25)))
    zone = quiet_zone(spec)
    assert (zone.lev_lo, zone.lev_hi) == (2.0, 2.5)
    wide = quiet_zone(token_spec("binance_blvt", Side.SHORT, {"tolerance": 3}))
    assert (wide.lev_lo, wide.lev_hi) == (1.25, 4.0)


def test_presets_command_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    presets_command()
    out = capsys.readouterr().out
    assert all(name in out for name in REQUIRED)
    assert "ftx_bull3" in out and "ftx_bear3" in out


def test_presets_command_shows_one_preset_with_parameters_and_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    presets_command("ftx")
    out = capsys.readouterr().out
    assert "max_leverage" in out and "management_time" in out
    assert "[FTX-FAQ]" in out


def test_presets_command_shows_the_blvt_source_notes(capsys: pytest.CaptureFixture[str]) -> None:
    presets_command("binance_blvt")
    out = capsys.readouterr().out
    assert "tolerance" in out and "0.25" in out
    assert "What is BLVT rebalancing" in out and "is constantly" in out
    assert "does not force rebalancing as a daily protocol" in out
    assert "2020-08-14" in out and "preference toward" in out and "ASSUMPTION" in out


def test_presets_command_rejects_an_unknown_preset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        presets_command("ftxx")
    assert exited.value.exit_code == 2
    assert "unknown preset 'ftxx'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rule", "leverage", "target", "move", "fires"),
    [
        (Band(2.0, 4.0), 4.0, 3.0, 0.0, True),  # touching a bound counts as leaving the band
        (Band(2.0, 4.0), -3.99, -3.0, 0.0, False),
        (Band(2.0, 4.0), -2.0, -3.0, 0.0, True),
        (LeverageAbove(4.0), -4.01, -3.0, 0.0, True),
        (LeverageAbove(4.0), 3.99, 3.0, 0.0, False),
        (MoveSinceRebalance(0.15), 4.6, 3.0, -0.15, True),  # long loses on a fall
        (MoveSinceRebalance(0.15), 2.3, 3.0, 0.20, False),  # ... not on a rise
        (MoveSinceRebalance(0.15), -5.0, -3.0, 0.15, True),  # short loses on a rise
        (MoveSinceRebalance(0.15), -2.0, -3.0, -0.30, False),
        (MoveSinceRebalance(0.20, adverse_only=False), 2.25, 3.0, 0.20, True),
        (AnyOf(()), 100.0, 3.0, 0.9, False),
        (AnyOf((Band(2.0, 4.0), LeverageAbove(10.0))), 4.5, 3.0, 0.0, True),
    ],
)
def test_each_rule_fires_exactly_when_its_condition_holds(
    rule: Band | LeverageAbove | MoveSinceRebalance | AnyOf,
    leverage: float,
    target: float,
    move: float,
    fires: bool,
) -> None:
    assert rule.fires(RuleContext(leverage, target, move)) is fires
