"""Fault injection: the real daemon (`ltbot run --clock exchange`) against the sim exchange,
with every fault mode of the sim injected for a stretch of polls.

The sim clock moves on whether or not the daemon managed to commit a step (a skipped poll
commits nothing), and the test waits on wall time during each stretch. Afterwards: the daemon
is alive, no bad tick reached the ledger, the accounting invariant holds for every portfolio,
and the log has one line per failure streak.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.e2e.harness import Daemon, accounting_errors, committed_at, wait_for_commit

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]
poll_seconds = 0.05
api_url = "{url}"
timeout_ms = 400
max_retries = 2
backoff_base_seconds = 0.02
backoff_max_seconds = 0.05
stale_after_seconds = 900

[store]
path = "{db}"

[log]
level = "INFO"

[[experiments]]
name = "btc-sma"
symbol = "BTC/USDT:USDT"
strategy = "sma_cross"
params = {{ fast = 3, slow = 8, atr_period = 3 }}
capital = 10000
vehicles = ["token:binance_blvt", "token:ftx", "perp:risk_pct=0.02", "perp_static:leverage=3",
            "spot"]
"""
EVERY = timedelta(minutes=40)
QUOTES = ("premiumIndex", "price", "bookTicker")  # the endpoints a poll's quotes come from


@dataclass(frozen=True)
class Stretch:
    """One fault, on some endpoints, for `steps` clock steps (each held `hold` wall seconds)."""

    fault: str
    endpoints: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    steps: int = 2
    hold: float = 0.6
    streak_line: str | None = None  # the one WARNING line the streak must log
    rejected: bool = False  # the quotes arrive but are rejected by validation
    # A poll can read the clock at the last fault step and fetch its quotes after the faults
    # are cleared (a slow poll on a loaded machine): that tick is clean but stamped inside the
    # fault. A settle step (still faulty, never asserted on) before clearing makes such a poll
    # hit the fault.
    settle: bool = True


STRETCHES = [
    Stretch("delay", ("premiumIndex",), {"seconds": 0.15}, steps=1),  # slow but fine
    Stretch("timeout", ("*",), {"seconds": 0.6}, hold=2.0, streak_line="RequestTimeout"),
    Stretch("rate_limit", ("*",), {"retry_after": 0.05}, streak_line="DDoSProtection"),
    Stretch("server_error", ("*",), {"status": 503}, streak_line="ExchangeNotAvailable"),
    Stretch("malformed_json", QUOTES, streak_line="not JSON"),
    Stretch("missing_fields", QUOTES, rejected=True),
    Stretch("stale", QUOTES, {"seconds": 3600}, rejected=True),
    # Held for three polls, still refused: no closed candle went there (validation.py).
    Stretch("spike", QUOTES, {"factor": 10}, steps=3, rejected=True),
    # Spiked candles are held back and fetched again once the exchange answers sanely.
    Stretch("spike", ("klines",), {"factor": 10}, steps=3, streak_line="implausible"),
]


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def streak_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if "logged once per streak" in line]


@pytest.mark.slow
def test_daemon_survives_every_fault_mode_and_keeps_a_clean_ledger(
    sim: SimExchange, tmp_path: Path
) -> None:
    # Arrange: a daemon with a few committed steps
    db = tmp_path / "ledger.db"
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=sim.url, db=db), encoding="utf-8")
    daemon = Daemon(config, tmp_path / "daemon.log")
    at = sim.data_start + timedelta(hours=1)
    sim.set_time(at)
    daemon.start()
    faulty: dict[str, list[datetime]] = {}
    try:
        for _ in range(12):  # warm-up: the strategy trades, funding settles
            at += EVERY
            sim.set_time(at)
            wait_for_commit(db, at, daemon)

        # Act: each fault for a stretch, then a clean step that must be committed
        for stretch in STRETCHES:
            before = len(streak_warnings(daemon.log.read_text()))
            for endpoint in stretch.endpoints:
                sim.inject(endpoint, stretch.fault, **stretch.params)
            for _ in range(stretch.steps):
                at += EVERY
                sim.set_time(at)
                faulty.setdefault(f"{stretch.fault}:{stretch.endpoints[0]}", []).append(at)
                time.sleep(stretch.hold)
                assert daemon.alive(), daemon.log.read_text()[-3000:]
            if stretch.settle:
                at += EVERY
                sim.set_time(at)
                time.sleep(stretch.hold)
            sim.clear_faults()
            at += EVERY
            sim.set_time(at)
            wait_for_commit(db, at, daemon)
            # Assert: one WARNING line for the whole streak (none for a mere delay)
            new = streak_warnings(daemon.log.read_text())[before:]
            expected = 0 if stretch.fault == "delay" else 1
            assert len(new) == expected, (stretch.fault, new)
            if stretch.streak_line is not None:
                assert stretch.streak_line in new[0], (stretch.fault, new)
        # the held-back candles were fetched again: the strategy's 1h series has no gap
        at += EVERY * 3
        sim.set_time(at)
        wait_for_commit(db, at, daemon)
        assert daemon.alive()
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()

    # Assert: no bad tick; nothing recorded while quotes were refused or unreachable
    with sqlite3.connect(db) as conn:
        ticks = conn.execute("SELECT at, last, mark FROM ticks ORDER BY at").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stamped = {datetime.fromisoformat(t[0].replace("Z", "+00:00")) for t in ticks}
    for fault, times in faulty.items():
        if fault.split(":")[0] != "delay" and fault != "spike:klines":
            assert not stamped & set(times), f"{fault}: a tick was recorded during the fault"
    with sqlite3.connect(db) as conn:
        candles = conn.execute(
            "SELECT at, open, high, low, close FROM candles WHERE timeframe = '1h' ORDER BY at"
        ).fetchall()
    prices = [p for _, last, mark in ticks for p in (last, mark)]
    prices += [p for row in candles for p in row[1:]]
    assert max(prices) < 1.3 * min(prices), "a spiked price reached the ledger"
    opens = [datetime.fromisoformat(row[0].replace("Z", "+00:00")) for row in candles]
    assert all(b - a == timedelta(hours=1) for a, b in zip(opens, opens[1:], strict=False))
    # Assert: the accounting invariant, for every portfolio, to the cent
    assert not accounting_errors(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    # Assert: the sim exchange never saw a signed request
    assert sim.requests and not [r for r in sim.requests if r.signed]
    # Assert: each recovery is logged once
    log = daemon.log.read_text()
    assert len(re.findall(r"recovered after", log)) >= 4
    assert committed_at(db) == at


def test_implausible_candles_are_judged_against_accepted_prices_only() -> None:
    from bot.domain.values import Candle, Quote
    from bot.engine.validation import implausible_candles

    t = datetime(2024, 3, 1, tzinfo=UTC)
    last = {"X": Quote("X", t, 100.0, mark=100.0)}

    def candle(close: float, high: float | None = None) -> Candle:
        return Candle("X", "1h", t, 100.0, high or max(100.0, close), min(100.0, close), close, 1)

    fine, nan = candle(110.0), candle(float("nan"))
    spiked = Candle("X", "1h", t, 1000.0, 1000.0, 1000.0, 1000.0, 1)  # x10 as a whole
    # the fresh quote vouches for a move within the bound of the last accepted one ...
    assert implausible_candles([candle(130.0)], last, [Quote("X", t, 120.0)], 0.25) == []
    # ... but a spiked fresh quote cannot vouch for a candle spiked as a whole
    assert implausible_candles([spiked], last, [Quote("X", t, 1000.0)], 0.25) == [spiked]
    # a bar that opens at the last accepted price and walks to the fresh quote is a move the
    # kline and the ticker endpoints agree on (corroborated), however far it goes
    walked = candle(1000.0)
    assert implausible_candles([walked], last, [Quote("X", t, 1000.0)], 0.25) == []
    assert implausible_candles([walked], last, [Quote("X", t, 100.0)], 0.25) == [walked]
    assert implausible_candles([fine, nan], last, [], 0.25) == [nan]
    assert implausible_candles([spiked], {}, [], 0.25) == []  # no reference yet
    upside_down = Candle("X", "1h", t, 100.0, 99.0, 101.0, 100.0, 1)  # high below low
    assert implausible_candles([fine, upside_down], {}, [], 0.25) == [upside_down]
