"""Reading a token's prices and its perp's data (bot/calibration/inputs.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.replay.feather import write_frame
from bot.calibration.inputs import InputError, read_market, read_token, resample

HOURS = pd.date_range("2021-01-01", periods=8, freq="1h", tz="UTC")


def _candles(closes: list[float], index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": index, "open": closes, "high": [c + 1 for c in closes],
         "low": [c - 1 for c in closes], "close": closes, "volume": 0.0}
    )  # fmt: skip


def test_resample_takes_first_open_extremes_and_last_close() -> None:
    frame = _candles([10.0, 12.0, 9.0, 11.0, 20.0, 21.0, 22.0, 23.0], HOURS).set_index("date")
    out = resample(frame[["open", "high", "low", "close"]], pd.Timedelta(hours=4))
    assert out.index.tolist() == [HOURS[0], HOURS[4]]
    assert out.to_numpy().tolist() == [[10.0, 13.0, 8.0, 11.0], [20.0, 24.0, 19.0, 23.0]]


def test_a_freqtrade_feather_token_is_read_by_close_time(tmp_path: Path) -> None:
    path = tmp_path / "ETHUP_USDT-1h.feather"
    write_frame(path, _candles([1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], HOURS))
    closes, bar = read_token(path)
    assert bar == pd.Timedelta(hours=1)
    assert closes.index[0] == HOURS[0] + bar and closes.iloc[0] == 1.0


def test_a_ccxt_csv_with_epoch_milliseconds_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token.csv"
    ms = [int(t.timestamp() * 1000) for t in HOURS[:4]]
    pd.DataFrame({"timestamp": ms, "close": [5.0, 6.0, 7.0, 8.0]}).to_csv(path, index=False)
    closes, bar = read_token(path)
    assert closes.index.tolist() == [t + bar for t in HOURS[:4]]
    assert closes.tolist() == [5.0, 6.0, 7.0, 8.0]


def test_mark_candles_win_over_last_prices_and_funding_is_read(tmp_path: Path) -> None:
    write_frame(tmp_path / "ETH_USDT_USDT-1h-futures.feather", _candles([1.0] * 8, HOURS))
    write_frame(tmp_path / "ETH_USDT_USDT-1h-mark.feather", _candles([2.0] * 8, HOURS))
    rates = _candles([0.0001, -0.0002], HOURS[[0, 7]]).assign(high=0.0, low=0.0, close=0.0)
    write_frame(tmp_path / "ETH_USDT_USDT-8h-funding_rate.feather", rates)
    market = read_market(tmp_path, "ETH/USDT:USDT", "4h")
    assert market.kind == "mark"
    assert market.candles["close"].tolist() == [2.0, 2.0]
    assert market.funding is not None and market.funding.tolist() == [0.0001, -0.0002]


def test_a_timeframe_finer_than_the_data_is_refused(tmp_path: Path) -> None:
    write_frame(tmp_path / "ETH_USDT_USDT-1h-mark.feather", _candles([2.0] * 8, HOURS))
    refused = r"no mark or futures candles that divide --timeframe \(30 min\)"
    with pytest.raises(InputError, match=refused):
        read_market(tmp_path, "ETH/USDT:USDT", "30m")


def test_the_finest_file_that_divides_the_timeframe_is_used(tmp_path: Path) -> None:
    days = pd.date_range("2021-01-01", periods=2, freq="1D", tz="UTC")
    write_frame(tmp_path / "ETH_USDT_USDT-1d-mark.feather", _candles([3.0, 3.0], days))
    write_frame(tmp_path / "ETH_USDT_USDT-1w-mark.feather", _candles([4.0], days[:1]))
    with pytest.raises(InputError, match=r"divide --timeframe \(240 min\)"):
        read_market(tmp_path, "ETH/USDT:USDT", "4h")  # 1d and 1w are coarser
    assert read_market(tmp_path, "ETH/USDT:USDT", "1d").candles["close"].tolist() == [3.0, 3.0]
    write_frame(tmp_path / "ETH_USDT_USDT-1h-mark.feather", _candles([2.0] * 8, HOURS))
    assert read_market(tmp_path, "ETH/USDT:USDT", "4h").candles["close"].tolist() == [2.0, 2.0]
    assert read_market(tmp_path, "ETH/USDT:USDT", "1d").candles["close"].tolist() == [2.0]
