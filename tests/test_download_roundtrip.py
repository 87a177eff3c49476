"""`ltbot download` output read back by `ltbot replay` (new and old layout) and by freqtrade's
feather conventions (file names, columns, dtypes, UTC)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bot.adapters.sim.exchange import SimExchange
from bot.cli.download import download_command
from tests.e2e.harness import ledger

REPO = Path(__file__).resolve().parents[1]
FREQTRADE_PYTHON = REPO / ".bench" / "ft" / "bin" / "python"  # `make bench`'s freqtrade venv
BTC = "BTC/USDT:USDT"
NOW = datetime(2024, 3, 3, 0, 2, tzinfo=UTC)
CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]

[store]
path = "{db}"

[log]
level = "WARNING"

[[experiments]]
name = "btc-hold"
symbol = "BTC/USDT:USDT"
strategy = "hold"
params = {{ direction = "long" }}
vehicles = ["perp:risk_pct=0.05", "spot"]
"""


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("download")
    app = typer.Typer()
    app.command()(download_command)
    with SimExchange(speed=0, start=NOW) as sim:
        result = CliRunner().invoke(
            app,
            ["--symbols", BTC, "--timeframe", "5m", "--since", "2024-03-01",
             "--api-url", sim.url, "--out", str(out)],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    yield out


def test_files_follow_freqtrades_names_columns_and_dtypes(downloaded: Path) -> None:
    # freqtrade IDataHandler._pair_data_filename: <datadir>/futures/<pair_to_filename>-<tf>-
    # <candle_type>.feather, datadir <user_data>/data/binance for binanceusdm; columns
    # date/open/high/low/close/volume, date datetime64[ms, UTC] (ArrowDataHandler._ohlcv_load
    # casts values to float and date to ms).
    folder = downloaded / "binance" / "futures"
    assert sorted(p.name for p in folder.iterdir()) == [
        "BTC_USDT_USDT-1h-funding_rate.feather",
        "BTC_USDT_USDT-1h-mark.feather",
        "BTC_USDT_USDT-5m-futures.feather",
        "BTC_USDT_USDT-5m-mark.feather",
    ]
    for path in folder.iterdir():
        frame = pd.read_feather(path)
        assert list(frame.columns) == ["date", "open", "high", "low", "close", "volume"]
        assert str(frame["date"].dtype) == "datetime64[ms, UTC]"
        assert all(str(frame[c].dtype) == "float64" for c in frame.columns[1:])
        assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    futures = pd.read_feather(folder / "BTC_USDT_USDT-5m-futures.feather")
    assert (futures["date"].iloc[0], futures["date"].iloc[-1], len(futures)) == (
        pd.Timestamp("2024-03-01 00:00", tz="UTC"),
        pd.Timestamp("2024-03-02 23:55", tz="UTC"),
        576,
    )
    funding = pd.read_feather(folder / "BTC_USDT_USDT-1h-funding_rate.feather")
    # Legacy OHLCV funding: the rate in `open` at the settlement hour, the rest 0.
    assert funding["date"].dt.strftime("%d %H").tolist() == [
        "01 00", "01 08", "01 16", "02 00", "02 08", "02 16", "03 00"
    ]  # fmt: skip
    assert (funding[["high", "low", "close", "volume"]] == 0).all().all()


@pytest.mark.skipif(not FREQTRADE_PYTHON.exists(), reason="no freqtrade venv (.bench/ft)")
def test_freqtrades_own_loader_reads_the_files(downloaded: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from freqtrade.data.history.datahandlers.featherdatahandler import "
        "FeatherDataHandler\n"
        "from freqtrade.enums import CandleType\n"
        "h = FeatherDataHandler(Path(sys.argv[1]))\n"
        "for tf, ct in (('5m', CandleType.FUTURES), ('1h', CandleType.MARK), "
        "('1h', CandleType.FUNDING_RATE)):\n"
        "    df = h.ohlcv_load('BTC/USDT:USDT', tf, ct, fill_missing=False)\n"
        "    print(ct.value, len(df), list(df.columns), df['date'].dtype, df['date'].iloc[-1])\n"
    )
    done = subprocess.run(
        [str(FREQTRADE_PYTHON), "-c", script, str(downloaded / "binance")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "futures 576 ['date', 'open', 'high', 'low', 'close', 'volume'] "
        "datetime64[ms, UTC] 2024-03-02 23:55:00+00:00"
    )
    assert lines[1].startswith("mark 48 ") and lines[1].endswith("2024-03-02 23:00:00+00:00")
    assert lines[2] == (
        "funding_rate 7 ['date', 'funding_rate', 'open'] datetime64[ms, UTC] "
        "2024-03-03 00:00:00+00:00"
    )


def replay(data: Path, workdir: Path, name: str) -> dict[str, list[tuple[object, ...]]]:
    config = workdir / f"{name}.toml"
    db = workdir / f"{name}.db"
    config.write_text(CONFIG.format(db=db), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--data", str(data), "--config", str(config)]
        + ["--db", str(db)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # One step per 5m candle close: 576 candles, closes 03-01 00:05 .. 03-03 00:00.
    assert "576 steps from 2024-03-01 00:05:00+00:00 to 2024-03-03 00:00:00+00:00" in done.stdout
    return ledger(db)


def test_replay_reads_the_new_and_the_old_layout_alike(downloaded: Path, tmp_path: Path) -> None:
    new = replay(downloaded, tmp_path, "new")
    # Before issue 17, `ltbot download` wrote <out>/binanceusdm/futures/ with `-8h-` funding.
    old = tmp_path / "old" / "binanceusdm" / "futures"
    old.mkdir(parents=True)
    for path in (downloaded / "binance" / "futures").glob("*-5m-*.feather"):
        shutil.copy(path, old / path.name)
    shutil.copy(
        downloaded / "binance" / "futures" / "BTC_USDT_USDT-1h-funding_rate.feather",
        old / "BTC_USDT_USDT-8h-funding_rate.feather",
    )
    assert replay(tmp_path / "old", tmp_path, "old") == new
    assert new["fills"] and new["nav"]
