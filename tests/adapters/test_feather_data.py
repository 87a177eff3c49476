"""freqtrade feather/CSV layout: names, reading, funding-time rounding, atomic writes."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.replay.feather import (
    DataFormatError,
    data_file_name,
    data_path,
    frame_to_candles,
    frame_to_funding,
    merge_frames,
    parse_data_file,
    read_frame,
    rows_to_frame,
    scan_data_dir,
    write_frame,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"
SHARED = REPO / ".." / "shared" / "data"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def test_file_names_follow_freqtrade() -> None:
    assert data_file_name("BTC/USDT:USDT", "5m", "futures") == "BTC_USDT_USDT-5m-futures.feather"
    assert data_file_name("BTC/USDT", "1h", "spot") == "BTC_USDT-1h.feather"
    assert data_path(Path("d"), "binanceusdm", "ETH/USDT:USDT", "8h", "funding_rate") == Path(
        "d/binanceusdm/futures/ETH_USDT_USDT-8h-funding_rate.feather"
    )


@pytest.mark.parametrize(
    ("name", "symbol", "tf", "kind"),
    [
        ("BTC_USDT_USDT-5m-futures.feather", "BTC/USDT:USDT", "5m", "futures"),
        ("ETH_USDT_USDT-1h-mark.feather", "ETH/USDT:USDT", "1h", "mark"),
        ("BTC_USDT_USDT-8h-funding_rate.csv", "BTC/USDT:USDT", "8h", "funding_rate"),
        ("BTC_USDT-1h.feather", "BTC/USDT", "1h", "spot"),
    ],
)
def test_names_parse_back(name: str, symbol: str, tf: str, kind: str) -> None:
    found = parse_data_file(Path(name))
    assert found is not None
    assert (found.symbol, found.timeframe, found.candle_type) == (symbol, tf, kind)


def test_other_files_are_ignored() -> None:
    assert parse_data_file(Path("README.md")) is None
    assert parse_data_file(Path("BTC_USDT_USDT-5m-futures.json")) is None


def test_bundled_sample_reads_as_candles_and_funding() -> None:
    files = {(f.symbol, f.candle_type): f for f in scan_data_dir(SAMPLE)}
    candles = frame_to_candles(read_frame(files["BTC/USDT:USDT", "futures"].path), "B", "5m")
    funding = frame_to_funding(read_frame(files["BTC/USDT:USDT", "funding_rate"].path), "B")
    assert candles[0].at == T0 and candles[0].at.tzinfo is not None
    assert all(a.at < b.at for a, b in zip(candles, candles[1:], strict=False))
    assert all(f.at.minute == 0 and f.at.second == 0 for f in funding)


def test_funding_ms_jitter_is_rounded_to_the_hour() -> None:
    frame = rows_to_frame(
        [[1709251200008, 0.0001, 0, 0, 0, 0], [1709279999995, 0.0002, 0, 0, 0, 0]]
    )
    rates = frame_to_funding(frame, "BTC/USDT:USDT")
    assert [r.at for r in rates] == [T0, T0.replace(hour=8)]
    assert [r.rate for r in rates] == [0.0001, 0.0002]


@pytest.mark.parametrize("date_as", ["iso", "ms"])
def test_csv_layout_reads_like_feather(tmp_path: Path, date_as: str) -> None:
    frame = read_frame(SAMPLE / "BTC_USDT_USDT-5m-futures.feather").head(10)
    csv = frame.copy()
    csv["date"] = (
        csv["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        if date_as == "iso"
        else csv["date"].astype("int64")
    )
    path = tmp_path / "BTC_USDT_USDT-5m-futures.csv"
    csv.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_frame(path), frame)


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    frame = rows_to_frame([[1709280000000 + i * 300_000, 1, 2, 0.5, 1.5, 10] for i in range(5)])
    path = tmp_path / "x" / "BTC_USDT_USDT-5m-futures.feather"
    write_frame(path, frame)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    pd.testing.assert_frame_equal(read_frame(path), frame)


def test_merge_keeps_the_later_row_on_duplicate_dates() -> None:
    old = rows_to_frame([[0, 1, 1, 1, 1, 1], [60_000, 2, 2, 2, 2, 2]])
    new = rows_to_frame([[60_000, 3, 3, 3, 3, 3], [120_000, 4, 4, 4, 4, 4]])
    assert merge_frames(old, new)["open"].tolist() == [1.0, 3.0, 4.0]


def test_missing_columns_are_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_USDT-5m-futures.csv"
    path.write_text("date,open\n2024-01-01T00:00:00Z,1\n")
    with pytest.raises(DataFormatError, match="missing columns"):
        read_frame(path)


def test_shared_data_funding_with_jitter_rounds_onto_8h_grid() -> None:
    folder = SHARED / "binance_usdm" / "5m" / "2023-01_2024-05"
    if not folder.is_dir():
        pytest.skip("../shared/data not present")
    rates = frame_to_funding(
        read_frame(folder / "BTC_USDT_USDT-8h-funding_rate.feather"), "BTC/USDT:USDT"
    )
    assert len(rates) == 1498
    assert all(r.at.hour % 8 == 0 and r.at.minute == 0 and r.at.microsecond == 0 for r in rates)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4_000_000_000_000),
            st.floats(min_value=1e-8, max_value=1e7, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_frames_round_trip_through_feather(rows: list[tuple[int, float]]) -> None:
    frame = rows_to_frame([[ms, p, p, p, p, 0.0] for ms, p in rows])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "BTC_USDT_USDT-1m-futures.feather"
        write_frame(path, frame)
        back = read_frame(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back["date"].is_monotonic_increasing and back["date"].is_unique


def test_freqtrade_2026_funding_files_are_read_as_the_legacy_shape(tmp_path: Path) -> None:
    # freqtrade 2026 writes funding as [date, funding_rate]; read as open = rate, rest 0.
    path = tmp_path / "BTC_USDT_USDT-1h-funding_rate.feather"
    dates = pd.to_datetime(["2024-03-01 00:00", "2024-03-01 08:00"], utc=True)
    pd.DataFrame({"date": dates, "funding_rate": [0.0001, -0.0002]}).to_feather(path)
    frame = read_frame(path)
    assert frame["open"].tolist() == [0.0001, -0.0002]
    assert (frame[["high", "low", "close", "volume"]] == 0).all().all()
    assert [r.rate for r in frame_to_funding(frame, "BTC/USDT:USDT")] == [0.0001, -0.0002]
