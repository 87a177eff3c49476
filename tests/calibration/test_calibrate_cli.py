"""`ltbot calibrate` through the real app: a synthetic token whose parameters are known, and
every bad input exiting 2 with one `error:` line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.adapters.replay.feather import write_frame
from bot.cli.main import app
from bot.config.vehicles import validate_preset_overrides
from tests.calibration.synthetic import START, synthetic_market, token_closes


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data dir (4h mark candles, 8-hourly funding) and ETHUP-like closes in the README layout."""
    root = tmp_path_factory.mktemp("calibrate")
    base = synthetic_market(days=60, seed=5)
    funding = pd.Series(
        0.0001 * np.cos(np.arange(180)), index=pd.date_range(START, periods=180, freq="8h")
    )
    market = type(base)(base.candles, funding, base.bar, base.kind)
    candles = market.candles.assign(volume=0.0, date=market.candles.index)
    write_frame(root / "data" / "ETH_USDT_USDT-4h-mark.feather", candles)
    rates = pd.DataFrame(
        {"date": funding.index, "open": funding.to_numpy(), "high": 0.0, "low": 0.0, "close": 0.0}
    )
    write_frame(root / "data" / "ETH_USDT_USDT-8h-funding_rate.feather", rates.assign(volume=0.0))
    closes = token_closes(market, "binance_blvt", "long", target_leverage=2.4, tolerance=0.2)
    opens = closes.index - market.bar  # README layout: Date is the bar's open time, naive UTC
    table = pd.DataFrame({"Date": opens.tz_localize(None), "Close": closes.to_numpy()})
    table.to_csv(root / "TOKUPUSDT-4h.csv", index=False)
    return root / "data", root / "TOKUPUSDT-4h.csv"


def _args(data: Path, token: Path, *extra: str) -> list[str]:
    return ["calibrate", "--token", str(token), "--data", str(data), "--symbol", "ETH/USDT:USDT",
            "--preset", "binance_blvt", "--side", "long", *extra]  # fmt: skip


def test_the_printed_snippet_is_toml_the_config_accepts(files: tuple[Path, Path]) -> None:
    data, token = files
    result = CliRunner().invoke(app, _args(data, token))
    assert result.exit_code == 0, result.output
    assert "reverse splits undone: none" in result.stdout
    snippet = result.stdout[result.stdout.index("# ltbot calibrate: TOKUPUSDT-4h.csv") :]
    table = tomllib.loads(snippet)["presets"]["binance_blvt"]
    validate_preset_overrides("binance_blvt", table)
    assert table == {"target_leverage_long": 2.4, "tolerance_long": 0.2}  # the truth
    for figure in ("tracking error (annualised)", "effective beta (real)", "terminal NAV ratio"):
        assert figure in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--token": "missing.csv"}, "error: --token missing.csv: no such file"),
        ({"--side": "up"}, "error: --side: expected long or short, got 'up'"),
        ({"--preset": "nope"}, "error: --preset: unknown preset 'nope'"),
        ({"--symbol": "BTC/USDT:USDT"}, "error: --symbol BTC/USDT:USDT: no data in"),
        ({"--data": "missing-dir"}, "error: --data: missing-dir is not a directory"),
        ({"--start": "2021-13-01"}, "error: --start: expected YYYY-MM-DD, got '2021-13-01'"),
        ({"--start": "2021-02-01", "--end": "2021-01-15"}, "error: --start must be before --end"),
        (
            {"--end": "2021-01-10"},
            "error: 10 daily closes where the token, the perp data and --start/--end overlap",
        ),
        ({"--skip-day": "yesterday"}, "error: --skip-day: expected YYYY-MM-DD, got 'yesterday'"),
        ({"--timeframe": "7h"}, "error: --timeframe 7h: must divide a day"),
        ({"--timeframe": "soon"}, "error: --timeframe: expected e.g. 1h or 4h, got 'soon'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    files: tuple[Path, Path], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    data, token = files
    args = _args(data, token)
    for option, value in change.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_token_file_without_prices_exits_2(files: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open\n2021-01-01 00:00:00,1\n", encoding="utf-8")
    result = CliRunner().invoke(app, _args(data, bad))
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: --token {bad}: needs a Date/date column and a Close/close column\n"
    )
