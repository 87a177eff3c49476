"""A SOL perp end to end: the daemon against the sim exchange through real ccxt, on a symbol
other than BTC and ETH (issue 17 point 2).

There is no recorded SOL data in ../shared/data, so SOL is served from the bundled ETH sample
(real Binance ETHUSDT 5m klines, 1h mark klines and funding, 2024-03-01 .. 04-15) with every
price divided by 20 (ETH 3.4 k -> SOL 170, about where SOLUSDT traded then), funding unchanged.
What the test checks does not depend on the path: SOL's market rules (lot step 1 SOL, from
SOLUSDT's entry in the bundled exchangeInfo of 2025-12-24, which the sim serves) and SOL's
leverage tiers (bracket 1: MMR 0.5 % up to 50 k, from the bundled 2026-05-07 snapshot; BTC's
is 0.4 %) reach the perp.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.replay.feather import read_frame, write_frame
from bot.adapters.sim.data import SAMPLE_DIR
from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, drive, step_times

SCALE = 20.0  # ETH price / SCALE = the derived SOL price
START = datetime(2024, 3, 2, 0, 10, tzinfo=UTC)
CONFIG = """
[exchange]
symbols = ["{symbol}"]
poll_seconds = 0.05
api_url = "{url}"
timeout_ms = 3000
max_retries = 3
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
stale_after_seconds = 86400
tiers_max_age_days = 1

[store]
path = "{db}"

[log]
level = "WARNING"

[[experiments]]
name = "sol-hold"
symbol = "{symbol}"
strategy = "hold"
params = {{ direction = "long", stop_pct = 0.01 }}
capital = 10000
vehicles = ["perp:risk_pct=0.02,fee_aware=false,slippage_bps=0"]
"""


def derive_sol(directory: Path) -> Path:
    """SOL files in freqtrade's layout, from the ETH sample with prices / SCALE."""
    for name in ("5m-futures", "1h-mark", "8h-funding_rate"):
        frame = read_frame(SAMPLE_DIR / f"ETH_USDT_USDT-{name}.feather")
        if not name.endswith("funding_rate"):
            prices = ["open", "high", "low", "close"]
            frame[prices] = frame[prices] / SCALE
        write_frame(directory / "binance" / "futures" / f"SOL_USDT_USDT-{name}.feather", frame)
    return directory


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimExchange]:
    data = derive_sol(tmp_path_factory.mktemp("sol-data"))
    with SimExchange(data, speed=0, start=START) as exchange:
        yield exchange


def write_config(directory: Path, url: str, symbol: str = "SOL/USDT:USDT") -> Path:
    path = directory / "config.toml"
    path.write_text(CONFIG.format(symbol=symbol, url=url, db=directory / "ledger.db"))
    return path


@pytest.mark.slow
def test_a_sol_perp_runs_with_sols_lot_step_and_leverage_tiers(
    sim: SimExchange, tmp_path: Path
) -> None:
    assert sim.symbols == ["SOLUSDT"]
    daemon = Daemon(write_config(tmp_path, sim.url), tmp_path / "daemon.log")
    times = step_times(START, 7, timedelta(minutes=10))  # 00:10 .. 01:10: the 01:00 bar closes
    sim.set_time(times[0])
    daemon.start()
    try:
        drive(sim, daemon, tmp_path / "ledger.db", times)
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        rows = db.execute(
            "SELECT symbol, side, opened_at, entry, qty, stop, leverage, liq_price, margin "
            "FROM positions"
        ).fetchall()
    log = (tmp_path / "daemon.log").read_text()
    assert len(rows) == 1, log[-3000:]
    # The bundled tiers (2026-05-07) are more than 1 day old by any wall clock after
    # 2026-05-08: one warning, at start-up.
    assert log.count("the bundled leverage tiers date from 2026-05-07") == 1
    assert "(more than exchange.tiers_max_age_days = 1)" in log
    symbol, side, opened_at, entry, qty, stop, leverage, liq, margin = rows[0]
    eth = read_frame(SAMPLE_DIR / "ETH_USDT_USDT-5m-futures.feather").set_index("date")
    close = eth.loc[pd.Timestamp("2024-03-02 00:55", tz="UTC"), "close"] / SCALE
    assert (symbol, side, opened_at) == ("SOL/USDT:USDT", "long", "2024-03-02T01:00:00.000Z")
    # The 00:00 bar's signal fills at its close (no slippage): the 00:55 5m candle's close.
    assert entry == pytest.approx(close, rel=1e-12)
    assert stop == pytest.approx(close * 0.99, rel=1e-12)
    # Risk 2 % of 10,000 over a 1 % stop: 200 / (0.01 x entry) SOL, rounded down to SOL's lot
    # step of 1 (BTC's and ETH's is 0.001): a whole number of SOL.
    assert qty == math.floor(200 / (0.01 * close))
    # Notional ~20 k USDT: the smallest whole leverage whose margin fits 10 k is 2x.
    assert leverage == 2.0
    # Isolated long LP = (margin + cum - qty x entry) / (qty x (MMR - 1)) with SOL's bracket 1
    # (notional < 50 k: MMR 0.005, cum 0); BTC's bracket 1 (MMR 0.004) would give another price.
    assert liq == pytest.approx((margin - qty * entry) / (qty * (0.005 - 1)), rel=1e-9)
    assert liq != pytest.approx((margin - qty * entry) / (qty * (0.004 - 1)), rel=1e-6)


def test_a_symbol_the_exchange_does_not_list_is_refused_with_one_line(
    sim: SimExchange, tmp_path: Path
) -> None:
    config = write_config(tmp_path, sim.url, symbol="DOGE/USDT:USDT")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--clock", "exchange"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == "error: binanceusdm has no market 'DOGE/USDT:USDT'"
    assert "Traceback" not in done.stderr


def test_a_sol_perp_replays_offline_with_the_bundled_rules_and_tiers(
    sim: SimExchange, tmp_path: Path
) -> None:
    # No exchange: the lot step comes from the bundled exchangeInfo, the tiers from the
    # bundled snapshot, as the live run above takes them from the sim's markets.
    data = derive_sol(tmp_path / "data")
    config = write_config(tmp_path, "http://127.0.0.1:9")  # never called by a replay
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--data", str(data), "--config", str(config)]
        + ["--from", "2024-03-02", "--to", "2024-03-02", "--db", str(tmp_path / "r.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(tmp_path / "r.db") as db:
        entry, qty, leverage, liq, margin = db.execute(
            "SELECT entry, qty, leverage, liq_price, margin FROM positions ORDER BY opened_at"
        ).fetchone()
    assert qty == math.floor(200 / (0.01 * entry)) and leverage == 2.0
    assert liq == pytest.approx((margin - qty * entry) / (qty * (0.005 - 1)), rel=1e-9)
