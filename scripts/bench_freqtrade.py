"""freqtrade's backtester on the same data and strategy, for the side-by-side in `make bench`
(`backtest`: timing) and scripts/compare_freqtrade.py (`backtest_trades`: the exported trades).

freqtrade is installed into its own venv (`.bench/ft`, gitignored) on first use. It cannot
backtest without loading the exchange's markets through ccxt (its maintainers' answer:
freqtrade/freqtrade#5526, #6077, #12456), and this machine has no internet, so every Binance
REST host of its ccxt client points at ltbot's sim exchange on 127.0.0.1, which serves the
recorded `exchangeInfo`: only the market list comes from there, candles, mark prices and
funding come from the same feather files ltbot replays (symlinked into freqtrade's layout).
Leverage tiers come from freqtrade's bundled file (dry run), fees from the config.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench" / "ft"
WORK = ROOT / ".bench" / "ft-work"
STRATEGY_DIR = Path(__file__).resolve().parent / "freqtrade_bench"
SHARED = ROOT.parent / "shared" / "data" / "binance_usdm"
FILES_5M = SHARED / "5m" / "2023-01_2024-05"
FILES_1H = SHARED / "1h"
BINANCE_HOSTS = ("sapi", "dapi", "eapi", "fapi", "papi", "public", "private", "v1")


def ensure_venv(python: str = "python3.11") -> Path:
    """The freqtrade executable, installing freqtrade into `.bench/ft` when missing."""
    exe = VENV / "bin" / "freqtrade"
    if not exe.exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "freqtrade"], check=True)
    return exe


def version(exe: Path) -> str:
    """`freqtrade --version`, one line."""
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return " ".join((out.stdout or out.stderr).split())


def _datadir() -> Path:
    # freqtrade's futures layout: <datadir>/futures/<PAIR>-<tf>-<candle type>.feather
    futures = WORK / "data" / "binance" / "futures"
    futures.mkdir(parents=True, exist_ok=True)
    links = {
        "BTC_USDT_USDT-5m-futures.feather": FILES_5M / "BTC_USDT_USDT-5m-futures.feather",
        "BTC_USDT_USDT-8h-mark.feather": FILES_5M / "BTC_USDT_USDT-8h-mark.feather",
        "BTC_USDT_USDT-8h-funding_rate.feather": FILES_5M / "BTC_USDT_USDT-8h-funding_rate.feather",
        "BTC_USDT_USDT-1h-futures.feather": FILES_1H / "BTC_USDT_USDT-1h-futures.feather",
        # freqtrade 2026.x reads mark and funding at 1h for binance futures
        "BTC_USDT_USDT-1h-mark.feather": FILES_1H / "BTC_USDT_USDT-1h-mark.feather",
        "BTC_USDT_USDT-1h-funding_rate.feather": FILES_1H / "BTC_USDT_USDT-1h-funding_rate.feather",
    }
    for name, target in links.items():
        link = futures / name
        if not link.exists():
            link.symlink_to(target)
    return WORK / "data" / "binance"


def _config(sim_url: str, overrides: dict[str, Any] | None = None) -> Path:
    urls = {
        key: re.sub(r"^https?://[^/]+", sim_url, value)
        for key, value in _binance_api_urls().items()
    }
    ccxt = {"options": {"fetchMarkets": {"types": ["linear"]}}, "urls": {"api": urls}}
    config = {
        "trading_mode": "futures",
        "margin_mode": "isolated",
        "dry_run": True,
        "dry_run_wallet": 10_000,
        "stake_currency": "USDT",
        "stake_amount": "unlimited",
        "max_open_trades": 1,
        "fee": 0.0005,
        "timeframe": "1h",
        "dataformat_ohlcv": "feather",
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "pair_whitelist": ["BTC/USDT:USDT"],
            "ccxt_config": ccxt,
            "ccxt_async_config": ccxt,
        },
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "user_data_dir": str(WORK / "user_data"),
        "internals": {"process_throttle_secs": 5},
        **(overrides or {}),
    }
    path = WORK / "config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _binance_api_urls() -> dict[str, str]:
    code = "import ccxt, json; print(json.dumps(ccxt.binance().urls['api']))"
    out = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    return {k: v for k, v in json.loads(out.stdout).items() if isinstance(v, str)}


def _start_sim() -> tuple[subprocess.Popen[str], str]:
    ltbot = ROOT / ".venv" / "bin" / "ltbot"
    proc = subprocess.Popen(
        [str(ltbot), "sim-exchange", "--port", "0", "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found:
            return proc, found.group(0)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the sim exchange did not start")


def _command(exe: Path, config: Path, timerange: str, export: list[str]) -> list[str]:
    return [
        str(exe),
        "backtesting",
        "--config",
        str(config),
        "--strategy",
        "SmaCrossFt",
        "--strategy-path",
        str(STRATEGY_DIR),
        "--datadir",  # freqtrade reads `datadir` from the command line only
        str(_datadir()),
        "--timeframe-detail",
        "5m",
        "--timerange",
        timerange,
        *export,
        "--cache",
        "none",
    ]


def _prepare() -> tuple[Path, subprocess.Popen[str], str]:
    exe = ensure_venv()
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "user_data").mkdir(exist_ok=True)
    sim, url = _start_sim()
    return exe, sim, url


def backtest(first: datetime, last: datetime, repeats: int = 3) -> dict[str, Any]:
    """Median wall time of `freqtrade backtesting` over [first, last) (BTC, futures)."""
    exe, sim, url = _prepare()
    try:
        config = _config(url)
        command = _command(exe, config, f"{first:%Y%m%d}-{last:%Y%m%d}", ["--export", "none"])
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        times = []
        output = ""
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            times.append(time.perf_counter() - started)
            output = done.stdout + done.stderr
            if done.returncode != 0:
                raise RuntimeError(f"freqtrade failed:\n{output[-3000:]}")
    finally:
        sim.terminate()
        sim.wait(10)
    times.sort()
    trades = re.search(r"│\s*SmaCrossFt\s*│\s*(\d+)", output)
    return {
        "version": version(exe),
        "command": " ".join(command),
        "seconds": times,
        "median_seconds": times[len(times) // 2],
        "trades": int(trades.group(1)) if trades else None,
        "tail": output[-2500:],
    }


def backtest_trades(
    timerange: str, out_dir: Path, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One `freqtrade backtesting` over `timerange` (freqtrade's syntax, e.g. unix seconds
    `1672707600-1715644800`) with its trades exported into `out_dir` (for
    scripts/compare_freqtrade.py); `overrides` replace keys of the config. Returns the
    strategy's result (trades, final_balance, ...), the command, the config and the version."""
    exe, sim, url = _prepare()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        config = _config(url, overrides)
        export = ["--export", "trades", "--backtest-directory", str(out_dir)]
        command = _command(exe, config, timerange, export)
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"freqtrade failed:\n{(done.stdout + done.stderr)[-3000:]}")
    finally:
        sim.terminate()
        sim.wait(10)
    latest = json.loads((out_dir / ".last_result.json").read_text())["latest_backtest"]
    with zipfile.ZipFile(out_dir / latest) as archive:
        name = next(
            n for n in archive.namelist() if re.fullmatch(r"backtest-result-[^_]*_[^_]*\.json", n)
        )
        result = json.loads(archive.read(name))
    return {
        "result": result["strategy"]["SmaCrossFt"],
        "command": " ".join(command),
        "config": json.loads(config.read_text()),
        "version": version(exe),
        "archive": str(out_dir / latest),
    }


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    result = backtest(datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 5, 15, tzinfo=UTC), repeats)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
