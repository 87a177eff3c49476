"""`ltbot run` against the sim exchange (a subprocess, real ccxt): the console shows start-up,
one compact line per position opened, and the run summary; the fills are in the log file only
(issue 17 point 3)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import committed_at, step_times

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]
poll_seconds = 0.05
api_url = "{url}"
timeout_ms = 3000
max_retries = 3
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
stale_after_seconds = 86400

[store]
path = "{db}"

[[experiments]]
name = "btc"
symbol = "BTC/USDT:USDT"
strategy = "hold"
capital = 10000
vehicles = ["spot", "perp:risk_pct=0.02"]
"""


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def test_the_console_shows_opens_and_the_log_file_the_fills(
    sim: SimExchange, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=sim.url, db=db), encoding="utf-8")
    times = step_times(sim.data_start + timedelta(hours=2), 3, timedelta(hours=1))
    sim.set_time(times[0])
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "-c", str(config), "--clock", "exchange"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as daemon:  # fmt: skip
        try:
            for at in times:
                sim.set_time(at)
                _wait_for_step(db, at, daemon)
        finally:
            daemon.terminate()
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    with sqlite3.connect(db) as conn:
        fills = conn.execute(
            "SELECT portfolio_id, qty, price, at FROM fills WHERE reason = 'entry' ORDER BY id"
        ).fetchall()
        positions = {
            row[0]: row[1:]
            for row in conn.execute("SELECT portfolio_id, stop, liq_price FROM positions")
        }
    conn.close()
    assert [f[0] for f in fills] == ["btc/spot", "btc/perp:risk_pct=0.02"]
    messages = [line.split(maxsplit=3)[2:] for line in err.splitlines()]
    opened = [text for level, text in messages if " opened " in text]
    expected = []
    for pid, qty, price, at in fills:
        when = at[:16].replace("T", " ")
        stop, liq = positions[pid]
        line = f"{pid} opened long {qty:.6g} {_symbol(pid)} at {price:.6g} ({when} UTC), "
        line += "no stop" if stop is None else f"stop {stop:.6g}"
        # A liquidation price only when one exists (0.0: margin covers any fall; None: spot).
        expected.append(line + (f", liq. {liq:.6g}" if liq else ""))
    assert opened == expected
    assert not any(" entry buy " in text for _, text in messages)  # fills: file only
    assert any(text.startswith("run summary: 3 steps") for _, text in messages)
    log = (tmp_path / "ledger.log").read_text(encoding="utf-8")
    assert re.search(r"\| btc/spot entry buy [0-9.]+ @ [0-9.]+ \(BTC/USDT\)$", log, re.M)
    assert out.splitlines()[-1].startswith("3 steps")


def _symbol(portfolio_id: str) -> str:
    return "BTC/USDT" if portfolio_id.endswith("/spot") else "BTC/USDT:USDT"


def _wait_for_step(db: Path, at: datetime, daemon: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = committed_at(db)
        if done is not None and done >= at:
            return
        assert daemon.poll() is None, "the daemon exited early"
        time.sleep(0.02)
    raise TimeoutError(f"step at {at} not committed")
