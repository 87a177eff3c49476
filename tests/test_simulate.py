"""`bot.simulate_token`: the notebook API over pandas series, on hand paths and the sample."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from typing import Any

import pandas as pd
import pytest

import bot
from bot.simulate import COLUMNS, simulate_token

NO_COSTS: dict[str, Any] = {
    "management_fee_pct": 0.0,
    "rebalance_fee_pct": 0.0,
    "slippage_pct": 0.0,
}
SAMPLE = files("bot") / "data" / "sample"


def daily(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"))


def sample_closes() -> pd.Series:
    candles = pd.read_feather(str(SAMPLE / "BTC_USDT_USDT-1h-mark.feather"))
    return candles.set_index("date")["close"]


def sample_funding() -> pd.Series:
    # freqtrade's funding-rate files keep the settled rate in the "open" column.
    rates = pd.read_feather(str(SAMPLE / "BTC_USDT_USDT-8h-funding_rate.feather"))
    return rates.set_index("date")["open"]


def test_reproduces_the_ftx_daily_reset_vector() -> None:
    # 10k → 11k → 10k with the 00:02 reset in between: 1.3 · (1 − 3/11) − 1 = −5.4545 %.
    out = simulate_token(daily([10_000.0, 11_000.0, 10_000.0]), "ftx", **NO_COSTS)
    assert list(out.columns) == COLUMNS
    assert (out["value"].iloc[-1] - 1) * 100 == pytest.approx(-5.4545, abs=0.01)
    # Resets at day-0 00:02 (already on target: nothing traded) and day-1 00:02, each booked on
    # the row of the next price.
    assert out["rebalances"].tolist() == [0, 1, 1]
    assert out["notional_traded"].iloc[1] == 0.0
    assert out["notional_traded"].iloc[2] > 0
    assert out["nav"].iloc[0] == 1.0


def test_funding_is_booked_into_nav_with_the_long_paying() -> None:
    # Flat price, one +0.1 % settlement: long 3x NAV 1 − 3·0.001 = 0.997; short 1.003.
    prices = pd.Series(
        [100.0, 100.0], index=pd.DatetimeIndex(["2024-01-01 07:00", "2024-01-01 09:00"], tz="UTC")
    )
    funding = pd.Series([0.001], index=pd.DatetimeIndex(["2024-01-01 08:00"], tz="UTC"))
    long = simulate_token(prices, "ideal_continuous", "long", funding=funding)
    short = simulate_token(prices, "ideal_continuous", "short", funding=funding)
    assert long["value"].iloc[-1] == pytest.approx(0.997)
    assert long["funding"].iloc[-1] == pytest.approx(0.003)
    assert short["value"].iloc[-1] == pytest.approx(1.003)
    assert short["funding"].iloc[-1] == pytest.approx(-0.003)


def test_overrides_reach_the_spec() -> None:
    out = simulate_token(daily([100.0, 110.0]), "ideal_continuous", target_leverage=2)
    assert out["value"].iloc[-1] == pytest.approx(1.2)
    assert out["leverage"].iloc[-1] == pytest.approx(2.0)


@pytest.mark.parametrize("preset", ["ftx", "bybit", "kucoin", "gate", "binance_blvt"])
@pytest.mark.parametrize("direction", ["long", "short"])
def test_sample_rows_decompose_into_their_columns(preset: str, direction: str) -> None:
    # Per row and per unit: Δnav = market + decay − rebalance_cost − management_fee − funding.
    out = simulate_token(sample_closes(), preset, direction, funding=sample_funding())
    assert (out["split_factor"] == 1.0).all()
    change = out["nav"].diff().iloc[1:]
    parts = out["market"] + out["decay"] - out["rebalance_cost"]
    parts = (parts - out["management_fee"] - out["funding"]).iloc[1:]
    assert (change - parts).abs().max() < 1e-12
    assert (out["nav"] > 0).all()
    assert out["exposure"].iloc[-1] == pytest.approx(out["leverage"].iloc[-1] * out["nav"].iloc[-1])


def test_gate_books_no_funding_but_a_management_fee_on_the_sample() -> None:
    out = simulate_token(sample_closes(), "gate", funding=sample_funding())
    days = len(set(out.index.date))  # 2024-03-01 .. 2024-04-14, hourly from 00:00 to 23:00
    assert out["funding"].sum() == 0.0
    assert (out["management_fee"] > 0).sum() == days == 45  # one 16:00 UTC charge a day


@pytest.mark.parametrize(
    ("prices", "kwargs", "message"),
    [
        (pd.Series([1.0, 2.0], index=pd.date_range("2024", periods=2)), {}, "timezone-aware"),
        (daily([1.0, 2.0])[::-1], {}, "strictly increasing"),
        (daily([1.0, 0.0]), {}, "> 0"),
        (daily([1.0, float("nan")]), {}, "NaN"),
        (daily([1.0, 2.0]), {"direction": "up"}, "direction must be"),
        (daily([1.0, 2.0]), {"preset": "ftxx"}, "unknown preset 'ftxx'"),
        (daily([1.0, 2.0]), {"foo": 1}, "unknown parameter 'foo'"),
    ],
)
def test_bad_input_raises_value_error(
    prices: pd.Series, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"preset": "ftx", **kwargs}
    with pytest.raises(ValueError, match=message):
        simulate_token(prices, **args)  # type: ignore[arg-type]


def test_bot_exports_simulate_token_lazily() -> None:
    assert bot.simulate_token is simulate_token
    code = "import sys, bot; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"
