"""`ltbot calibrate` on the real tokens of ../shared/data/leveraged_tokens."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.calibration.inputs import read_market, read_token
from bot.calibration.pipeline import prepare
from bot.cli.main import app
from bot.config.vehicles import validate_preset_overrides

pytestmark = pytest.mark.shared_data


def test_the_ethdown_reverse_split_is_found(shared_data: Path) -> None:
    # data/leveraged_tokens/README: no bars 2021-07-08 00:00 -> 07-09 00:00, then 0.000059 ->
    # 6.767, "a reverse split of about 1:100 000, inferred from prices".
    closes, bar = read_token(shared_data / "leveraged_tokens" / "ETHDOWNUSDT-4h.csv")
    assert bar == pd.Timedelta(hours=4)
    market = read_market(shared_data / "binance_usdm" / "1h", "ETH/USDT:USDT", "4h")
    prepared = prepare(closes, market, -2.25)
    assert [(s.at, s.ratio) for s in prepared.splits] == [
        (pd.Timestamp("2021-07-09 04:00", tz="UTC"), 100_000.0)
    ]
    assert prepared.splits[0].jump == pytest.approx(6.767 / 0.000059)


@pytest.mark.slow  # ~7 s: the first 8.5 months (the whole file, 25-40 s, is docs/FIDELITY.md's)
def test_calibrate_runs_on_the_real_ethup(shared_data: Path) -> None:
    token = shared_data / "leveraged_tokens" / "ETHUPUSDT-4h.csv"
    args = ["calibrate", "--token", str(token), "--data", str(shared_data / "binance_usdm" / "1h"),
            "--symbol", "ETH/USDT:USDT", "--preset", "binance_blvt", "--side", "long",
            "--end", "2021-03-31"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "261 daily closes 2020-07-14 .. 2021-03-31; reverse splits undone: none" in result.stdout
    snippet = result.stdout[result.stdout.index("# ltbot calibrate: ETHUPUSDT-4h.csv") :]
    table = tomllib.loads(snippet)["presets"]["binance_blvt"]
    validate_preset_overrides("binance_blvt", table)
    assert 1.8 <= table["target_leverage_long"] <= 2.7  # inside the grid's span
    assert "out: fitted" in result.stdout
