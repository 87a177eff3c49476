"""`bot.simulate_token`: the notebook API over pandas series, on hand paths and the sample."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
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


def candles(
    rows: list[tuple[float, float, float, float]], start: str = "2024-01-01"
) -> pd.DataFrame:
    index = pd.date_range(start, periods=len(rows), freq="h", tz="UTC")
    return pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close"])


def test_candles_walk_the_intrabar_path_and_trigger_at_the_crossing() -> None:
    # FTX 3x long, no costs, launched at the first open (100); the bar is walked open 100,
    # nearer extreme 101, farther 70, close 80. At 101: NAV 1.03, q = 0.03, collateral
    # C = 1.03 − 0.03·101 = −2, so λ = 4 at S = 4·C/(q·(1 − 4)) = 8/0.09 = 88.889 (NAV 2/3):
    # rebalance there, back to 3x. Each later crossing is a further fall of 1/9 (NAV × 2/3):
    # 79.012, 70.233; 70.233·8/9 = 62.43 is below the low. Then 70 → 80 with no lower trigger.
    out = simulate_token(candles([(100.0, 101.0, 70.0, 80.0)]), "ftx", **NO_COSTS)
    third = 8 / 0.09 * (8 / 9) ** 2
    assert out["rebalances"].iloc[0] == 3
    assert out["nav"].iloc[0] == pytest.approx((2 / 3) ** 3 * (1 + 3 * (80 / third - 1)), rel=1e-12)
    assert out["price"].iloc[0] == 80.0


def test_candles_need_open_high_low_close() -> None:
    bad = candles([(1.0, 2.0, 0.5, 1.5)]).drop(columns="low")
    with pytest.raises(ValueError, match="missing \\['low'\\]"):
        simulate_token(bad, "ftx")
    inconsistent = candles([(1.0, 1.2, 0.9, 1.5)])
    with pytest.raises(ValueError, match="inconsistent bar"):
        simulate_token(inconsistent, "ftx")


REPLAY_CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]

[store]
path = "{db}"

[log]
level = "WARNING"

[[experiments]]
name = "hold"
symbol = "BTC/USDT:USDT"
strategy = "hold"
params = {{ direction = "long" }}
capital = 10000
vehicles = ["token:binance_blvt:tolerance=0.05", "token:ftx"]
"""


def test_a_replay_of_the_same_candles_gives_the_same_fund(tmp_path: Path) -> None:
    # Five days of the sample's 1h BTC mark candles, written as both the last-price and the mark
    # candles of a replay, with the sample's funding. The engine's first step walks no bar, so
    # the funds launch at the second bar's open: the notebook starts there too.
    marks = pd.read_feather(str(SAMPLE / "BTC_USDT_USDT-1h-mark.feather"))
    marks = marks[marks["date"] < "2024-03-06"].reset_index(drop=True)
    data = tmp_path / "data"
    data.mkdir()
    for kind in ("futures", "mark"):
        marks.to_feather(data / f"BTC_USDT_USDT-1h-{kind}.feather")
    funding = pd.read_feather(str(SAMPLE / "BTC_USDT_USDT-8h-funding_rate.feather"))
    funding.to_feather(data / "BTC_USDT_USDT-8h-funding_rate.feather")
    db = tmp_path / "replay.db"
    config = tmp_path / "config.toml"
    config.write_text(REPLAY_CONFIG.format(db=db), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--data", str(data), "-c", str(config), "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    bars = marks.set_index("date").iloc[1:]
    with sqlite3.connect(db) as con:
        for vehicle, overrides, events_hours in (
            ("token:binance_blvt:tolerance=0.05", {"tolerance": 0.05}, (0, 8, 16)),
            ("token:ftx", {}, (0, 1, 8, 16)),
        ):
            pid = f"hold/{vehicle}"
            preset = vehicle.split(":")[1]
            rates = funding.set_index("date")["open"]
            long = simulate_token(bars, preset, "long", funding=rates, **overrides)
            short = simulate_token(bars, preset, "short", funding=rates, **overrides)
            rows = con.execute(
                "SELECT at, leverage_after FROM token_events WHERE portfolio_id = ? "
                "AND kind = 'rebalance'",
                (pid,),
            ).fetchall()
            # Each ledger rebalance on the row of the first bar opening at or after it.
            for out, sign in ((long, 1), (short, -1)):
                times = pd.DatetimeIndex([pd.Timestamp(at) for at, lev in rows if lev * sign > 0])
                counts = pd.Series(out.index.searchsorted(times, side="left")).value_counts()
                assert counts.sum() == out["rebalances"].sum() > 0
                per_row = out["rebalances"].iloc[counts.index.to_numpy()].to_numpy()
                assert (per_row == counts.to_numpy()).all()
            # The held long fund: the ledger's NAV at step T (bar T − 1h closed) against the
            # notebook's row T − 1h, as returns from the first step after the subscription;
            # hours with a timed event inside the step are left out (the ledger's snapshot
            # has it, the notebook books it on the next row).
            nav = pd.Series(
                dict(con.execute("SELECT at, nav FROM nav WHERE portfolio_id = ?", (pid,)))
            )
            nav.index = pd.DatetimeIndex([pd.Timestamp(t) for t in nav.index])
            value = long["value"].set_axis(long.index + pd.Timedelta(hours=1))
            common = [t for t in nav.index[1:] if t in value.index and t.hour not in events_hours]
            ledger = nav.loc[common] / nav.loc[common[0]]
            notebook = value.loc[common] / value.loc[common[0]]
            assert len(common) > 80
            assert (ledger / notebook - 1).abs().max() < 1e-9
