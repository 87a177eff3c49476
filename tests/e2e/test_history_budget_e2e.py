"""End to end with a history budget smaller than the candle series: `history_requests_per_poll
= 1` with BTC and ETH (2 hourly series, plus funding history after each settlement), so closed
candles really wait in the queue for later polls.

- The candles arrive exactly once, each with the step that received it (`received_at`), some
  of them one or more steps after their close.
- SIGKILLs mid-step, while idle and during start-up leave the uninterrupted ledger and the
  same recorded market data (the queue after a restart is the one the uninterrupted run had).
- The recorded session replays to the identical ledger; with `received_at` cleared (the close
  time rule) it would not, so the column is what makes the replay exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sim.exchange import SimExchange
from bot.config.settings import load_settings
from bot.runtime.replay_driver import run_replay
from tests.e2e.harness import Daemon, drive_with_kills, ledger, step_times

STEPS = 60
EVERY = timedelta(minutes=40)  # 60 steps = 40 h: 5 funding settlements
VEHICLES = '["token:binance_blvt", "token:bybit", "perp:risk_pct=0.02", "perp_static:leverage=3"]'
CONFIG = f"""
[exchange]
symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
poll_seconds = 0.05
api_url = "{{url}}"
timeout_ms = 3000
max_retries = 3
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
stale_after_seconds = 86400
history_requests_per_poll = 1

[store]
path = "{{db}}"

[log]
level = "WARNING"

[[experiments]]
name = "btc-sma"
symbol = "BTC/USDT:USDT"
strategy = "sma_cross"
params = {{{{ fast = 3, slow = 8, atr_period = 3 }}}}
capital = 10000
vehicles = {VEHICLES}

[[experiments]]
name = "eth-sma"
symbol = "ETH/USDT:USDT"
strategy = "sma_cross"
params = {{{{ fast = 3, slow = 8, atr_period = 3 }}}}
capital = 10000
vehicles = {VEHICLES}
"""
KILLS = {
    7: ("step", 0.03),
    19: ("idle", 0.0),
    26: ("step", 0.08),
    33: ("startup", 0.6),
    45: ("step", 0.0),
}
MARKET = {
    "candles": "SELECT * FROM candles ORDER BY symbol, timeframe, at",
    "funding_rates": "SELECT * FROM funding_rates ORDER BY symbol, at",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def run_session(
    sim: SimExchange, directory: Path, kills: dict[int, tuple[str, float]]
) -> tuple[Path, Daemon, list[datetime]]:
    directory.mkdir()
    config = directory / "config.toml"
    db = directory / "ledger.db"
    config.write_text(CONFIG.format(url=sim.url, db=db), encoding="utf-8")
    daemon = Daemon(config, directory / "daemon.log")
    times = step_times(sim.data_start + timedelta(hours=1), STEPS, EVERY)
    sim.set_time(times[0])
    daemon.start()
    try:
        drive_with_kills(sim, daemon, db, times, kills)
        assert daemon.stop() == 0
    finally:
        if daemon.alive():
            daemon.kill()
    return db, daemon, times


def market(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in MARKET.items()}


def replay(config: Path, db: Path, out: Path) -> dict[str, list[tuple[object, ...]]]:
    settings = load_settings(config)
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"path": out})}
    )
    feed = ReplayFeed.from_database(db)
    try:
        run_replay(settings, feed)
    finally:
        feed.close()
    return ledger(out)


@pytest.fixture(scope="module")
def clean(
    sim: SimExchange, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[datetime]]:
    db, _, times = run_session(sim, tmp_path_factory.mktemp("budget") / "clean", {})
    return db, times


def _time(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@pytest.mark.slow
def test_queued_candles_arrive_once_with_the_step_that_received_them(
    clean: tuple[Path, list[datetime]],
) -> None:
    db, times = clean
    rows = market(db)["candles"]
    delays = []
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
        mine = [r for r in rows if r[0] == symbol]
        opens = [_time(r[2]) for r in mine]
        # every hour from the first candle on, once (the primary key forbids twice)
        assert opens == [opens[0] + timedelta(hours=i) for i in range(len(opens))]
        assert len(opens) >= 38
        # the strategy's warm-up bars, fetched at start-up: no step received them
        warm = [r for r in mine if r[8] is None]
        assert warm and all(_time(r[2]) + timedelta(hours=1) <= times[0] for r in warm)
        for r in mine[len(warm) :]:
            received, close = _time(r[8]), _time(r[2]) + timedelta(hours=1)
            assert received in times  # a step time
            first_step = min(t for t in times if t >= close)
            delays.append(times.index(received) - times.index(first_step))
    assert min(delays) == 0
    assert max(delays) >= 1  # the budget made some candles wait for a later step
    assert all(r[3] is not None for r in market(db)["funding_rates"])


@pytest.mark.slow
def test_sigkills_with_a_queue_leave_the_uninterrupted_ledger_and_market_data(
    sim: SimExchange, clean: tuple[Path, list[datetime]], tmp_path: Path
) -> None:
    clean_db, times = clean
    # Some kill comes while a closed candle waits in the queue (the restart must fetch it once)
    queued_at_kill = [
        k
        for k in KILLS
        for r in market(clean_db)["candles"]
        if r[8] is not None  # (warm-up bars are received before the first step)
        and _time(r[2]) + timedelta(hours=1) <= times[k - 1] < _time(r[8])
    ]
    assert queued_at_kill

    killed_db, daemon, _ = run_session(sim, tmp_path / "killed", KILLS)

    assert daemon.kills == 6
    assert ledger(clean_db)["fills"]
    assert ledger(killed_db) == ledger(clean_db)
    assert market(killed_db) == market(clean_db)


@pytest.mark.slow
def test_the_recorded_session_replays_to_the_same_ledger_thanks_to_received_at(
    clean: tuple[Path, list[datetime]], tmp_path: Path
) -> None:
    db, _ = clean
    config = db.parent / "config.toml"
    live = ledger(db)

    replayed = replay(config, db, tmp_path / "replay.db")

    assert live["fills"] and replayed == live
    # The close-time rule instead (received_at cleared) hands queued candles to earlier steps
    copy = tmp_path / "no_received_at.db"
    # SQLite's backup API: a plain file copy would miss what is still in the -wal file
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE candles SET received_at = NULL")
        conn.execute("UPDATE funding_rates SET received_at = NULL")
    assert replay(config, copy, tmp_path / "replay2.db") != live
