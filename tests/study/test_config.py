"""Study configs: grids, windows, cells and the one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.study.cells import expand_cells
from bot.study.config import (
    StrategyGrid,
    StudyConfigError,
    VehicleGrid,
    load_study_config,
    window_ranges,
)
from bot.study.market import symbol_data
from tests.study.kit import BTC, ETH, SAMPLE, study_config


def day(m: int, d: int) -> datetime:
    return datetime(2024, m, d, tzinfo=UTC)


def test_vehicle_grid_adds_each_combination_to_the_vehicle_string() -> None:
    assert VehicleGrid(use="perp", grid={"risk_pct": [0.02, 0.05]}).expand() == [
        "perp:risk_pct=0.02",
        "perp:risk_pct=0.05",
    ]
    assert VehicleGrid(use="perp:max_leverage=10", grid={"risk_pct": [0.03]}).expand() == [
        "perp:max_leverage=10,risk_pct=0.03"
    ]
    assert VehicleGrid(use="token:ftx", grid={"target_leverage": [2, 3]}).expand() == [
        "token:ftx:target_leverage=2",
        "token:ftx:target_leverage=3",
    ]
    assert VehicleGrid(use="spot").expand() == ["spot"]


def test_strategy_grid_is_a_cartesian_product_with_fixed_params() -> None:
    grid = StrategyGrid(name="sma_cross", params={"fast": 5}, grid={"slow": [20, 30]})
    assert grid.expand() == [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 30}]


def test_rolling_windows_start_at_midnights_and_end_inside_the_data(tmp_path: Path) -> None:
    config = study_config(tmp_path / "s.db", windows={"length_days": 14, "step_days": 7})
    # Data 2024-03-01 00:00 .. 2024-04-15 00:00: starts 03-01, 03-08, ..., 03-29 (ends 04-12);
    # 04-05 would end 04-19, after the data.
    windows = window_ranges(config, day(3, 1), day(4, 15))
    assert [w[0] for w in windows] == [day(3, 1), day(3, 8), day(3, 15), day(3, 22), day(3, 29)]
    assert windows[-1][1] == day(4, 12)
    # A first candle at 00:05 starts the windows at the next midnight.
    later = window_ranges(config, day(3, 1).replace(minute=5), day(4, 15))
    assert later[0][0] == day(3, 2)


def test_cells_are_symbol_by_window_by_parameter_set(tmp_path: Path) -> None:
    config = study_config(
        tmp_path / "s.db",
        strategies=[{"name": "sma_cross", "grid": {"fast": [5, 10], "slow": [20]}}],
    )
    data = {s: symbol_data(SAMPLE, s).span for s in (BTC, ETH)}
    cells = expand_cells(config, data)
    assert len(cells) == 2 * 2 * 2
    assert cells[0].id == 'BTC/USDT:USDT|2024-03-02|2024-03-05|sma_cross|{"fast": 5, "slow": 20}'
    assert [json.loads(c.params)["fast"] for c in cells[:2]] == [5, 10]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vehicles": [{"use": "token:nope"}]}, "vehicles[0]: 'token:nope': unknown preset 'nope'"),
        (
            {"vehicles": [{"use": "perp", "grid": {"risk_pct": [0.5]}}]},
            "vehicles[0]: 'perp:risk_pct=0.5'",
        ),
        ({"windows": {"length_days": 10}}, "windows: give length_days and step_days, or ranges"),
        ({"surprise": 1}, "surprise: unknown key"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(StudyConfigError) as caught:
        study_config(tmp_path / "s.db", **change)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_fingerprint_ignores_where_results_go_and_task_size(tmp_path: Path) -> None:
    a = study_config(tmp_path / "a.db")
    b = study_config(
        tmp_path / "b.db",
        study={"data": str(SAMPLE), "db": "b.db", "symbols": [BTC, ETH], "cells_per_task": 9},
    )
    c = study_config(tmp_path / "a.db", study={"data": str(SAMPLE), "symbols": [BTC], "db": "a.db"})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.shared_data
def test_symbols_share_one_window_calendar_on_real_data(shared_data: Path, tmp_path: Path) -> None:
    # BTC 1h starts 2019-09-08, ETH 1h 2019-11-27: ETH keeps the calendar's windows that lie
    # inside its data instead of starting its own at 2019-11-28. The last window starting
    # 2020-03-07 would end 2020-06-05, after `to`.
    config = study_config(
        tmp_path / "s.db",
        study={"data": str(shared_data / "binance_usdm" / "1h"), "symbols": [BTC, ETH]},
        windows={"length_days": 90, "step_days": 30, "from": "2019-09-01", "to": "2020-06-01"},
    )
    data = {s: symbol_data(config.study.data, s).span for s in (BTC, ETH)}
    starts = {s: [c.start for c in expand_cells(config, data) if c.symbol == s] for s in (BTC, ETH)}
    assert starts[BTC] == [day(9, 9).replace(year=2019), day(10, 9).replace(year=2019),
                           day(11, 8).replace(year=2019), day(12, 8).replace(year=2019),
                           day(1, 7).replace(year=2020), day(2, 6).replace(year=2020)]  # fmt: skip
    assert starts[ETH] == starts[BTC][3:]


def test_the_example_config_is_valid_and_expands_to_30_cells() -> None:
    from bot.study.runner import check_study

    config = load_study_config(SAMPLE.parents[2] / "study.example.toml")
    # 2 symbols x 5 windows of 14 days x (hold + sma_cross 10/50 and 20/50)
    assert len(check_study(config)) == 2 * 5 * 3
    assert len(config.vehicle_specs()) == 7
