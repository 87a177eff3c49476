"""Tick retention (`[store] tick_retention_days`): the daemon's maintenance job deletes old
ticks in batches and leaves every other table alone; the config accepts and rejects it."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.adapters.sqlite.queries import TABLES
from bot.adapters.sqlite.store import Store
from bot.config.settings import ConfigError, Settings, StoreSettings, load_settings
from bot.domain.records import FeeRecord, FillRecord, NavRecord, PositionRecord
from bot.domain.values import Candle, FeeKind, FillReason, FundingRate, Quote
from bot.engine.ports import EngineState, PortfolioRow, PortfolioStep, StepBatch
from bot.runtime.clock import SystemClock
from bot.runtime.retention_job import prune_ticks, retention_job, tick_retention_job
from bot.runtime.scheduler import run_jobs

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
EVERY = timedelta(hours=6)
STEPS = 17  # T0 .. T0 + 4 days, every 6 hours: 34 ticks


def _fill_ledger(path: Path) -> None:
    """4 days of 6-hourly steps: ticks of 2 symbols plus a row in every other table."""
    with Store(path) as store:
        store.upsert_portfolios([PortfolioRow("p", "e", "perp", "hold", SYMBOLS[0], 1e4)])
        store.start_run(T0, "live", "binanceusdm", {}, "0")
        for i in range(STEPS):
            at = T0 + EVERY * i
            quotes = [Quote(s, at, 100.0 + i, 100.0 + i) for s in SYMBOLS]
            candles = [Candle(SYMBOLS[0], "1h", at - timedelta(hours=1), 1, 2, 0.5, 1.5, 9)]
            funding = [FundingRate(SYMBOLS[0], at, 1e-4)]
            fill = FillRecord(at, SYMBOLS[0], "buy", 0.1, 100.0 + i, 0.01, FillReason.ENTRY)
            fee = FeeRecord(at, FeeKind.TRADING, 0.01, fill_index=0)
            position = PositionRecord(
                f"p#{i}", SYMBOLS[0], "long", at, 100.0, 0.1, 90.0, None, 0.02, 1.0, None
            )
            nav = NavRecord(at, 1e4, 1e4, 10.0, 0.001, 100.0 + i)
            step = PortfolioStep("p", [fill], [fee], (), [position], [nav])
            state = EngineState("live", at, "{}")
            store.write_steps([StepBatch(quotes, candles, funding, [step], state)])


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as con:
        names = [*TABLES, "engine_state", "report_metrics"]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in names}  # noqa: S608


def _settings(db: Path, days: int) -> Settings:
    return Settings(store=StoreSettings(path=db, tick_retention_days=days))


def test_prune_keeps_exactly_the_last_days_and_nothing_else_changes(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _fill_ledger(db)
    before = _tables(db)
    pauses: list[float] = []

    with Store(db) as store:
        # now = T0 + 4 days, keep 2 days: the ticks before T0 + 2 days go (8 steps x 2 symbols)
        deleted = prune_ticks(store, 2, T0 + timedelta(days=4), batch=5, sleep=pauses.append)
        again = prune_ticks(store, 2, T0 + timedelta(days=4), batch=5, sleep=pauses.append)

    after = _tables(db)
    assert deleted == 16 and again == 0
    assert pauses == [0.2, 0.2, 0.2]  # batches of 5, 5, 5, 1: a pause after each full one
    kept = [(row[0], row[1]) for row in after["ticks"]]
    first_kept = [T0 + timedelta(days=2) + EVERY * i for i in range(9)]
    assert kept == [(f"{t:%Y-%m-%dT%H:%M:%S}.000Z", s) for t in first_kept for s in SYMBOLS]
    assert after["ticks"] == before["ticks"][16:]
    assert {t: rows for t, rows in after.items() if t != "ticks"} == {
        t: rows for t, rows in before.items() if t != "ticks"
    }
    assert len(after["candles"]) == len(after["nav"]) == len(after["fills"]) == STEPS


def test_retention_zero_keeps_every_tick(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _fill_ledger(db)
    with Store(db) as store:
        assert prune_ticks(store, 0, T0 + timedelta(days=400)) == 0
        assert store.count("ticks") == 2 * STEPS
    assert retention_job(_settings(db, 0)) is None  # the daemon schedules no job at all


def test_the_scheduler_job_measures_days_from_the_newest_tick(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _fill_ledger(db)
    job = retention_job(_settings(db, 1))
    assert job is not None

    # newest tick T0 + 4 days, keep 1 day: everything before T0 + 3 days goes (12 steps)
    assert job() == 24
    assert job() == 0  # a second run is a no-op
    with Store(db) as store:
        assert store.count("ticks") == 10
        assert min(row["at"] for row in store.rows("ticks")) == "2024-03-04T00:00:00.000Z"


def test_the_job_on_a_fresh_or_broken_database_deletes_nothing_and_never_raises(
    tmp_path: Path,
) -> None:
    assert tick_retention_job(_settings(tmp_path / "new.db", 1)) == 0  # no ticks yet
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    assert tick_retention_job(_settings(broken, 1)) == 0  # logged, the daemon carries on


def test_run_jobs_runs_the_maintenance_job_at_start_up(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _fill_ledger(db)
    job = retention_job(_settings(db, 2))
    assert job is not None
    done: list[int] = []
    polls: list[int] = []

    def poll() -> bool:  # stops the scheduler once the job ran (or after 400 polls: fails)
        polls.append(1)
        return bool(done) or len(polls) >= 400

    run_jobs(poll, 0.01, maintenance=lambda: done.append(job()), wall_clock=SystemClock())
    assert done == [16]  # newest tick T0 + 4 days, keep 2 days


# -- configuration ------------------------------------------------------------------------


def _config(tmp_path: Path, value: str) -> Path:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace("tick_retention_days = 0", f"tick_retention_days = {value}")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "config", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_example_keeps_every_tick_and_config_accepts_a_retention(tmp_path: Path) -> None:
    assert load_settings(REPO / "config.example.toml").store.tick_retention_days == 0
    assert load_settings(_config(tmp_path, "30")).store.tick_retention_days == 30


def test_environment_sets_the_retention(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LTBOT_STORE__TICK_RETENTION_DAYS", "7")
    assert load_settings(_config(tmp_path, "30")).store.tick_retention_days == 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "store.tick_retention_days: Input should be greater than or equal to 0"),
        ("1.5", "store.tick_retention_days: Input should be a valid integer"),
        ('"a week"', "store.tick_retention_days: Input should be a valid integer"),
    ],
)
def test_config_rejects_a_bad_retention_naming_the_key(
    tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(_config(tmp_path, value))


def test_config_check_rejects_a_negative_retention_in_one_line_with_exit_2(tmp_path: Path) -> None:
    result = _check(_config(tmp_path, "-1"))
    assert result.returncode == 2
    assert result.stderr == (
        "error: store.tick_retention_days: Input should be greater than or equal to 0\n"
    )


@pytest.mark.parametrize("section", ["exchange", "store", "log", "report"])
def test_the_example_config_documents_every_key(section: str) -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    body = text.split(f"[{section}]\n", 1)[1].split("\n[", 1)[0]
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    for key in model.model_fields:  # optional keys may be commented out
        assert re.search(rf"^(# )?{key} = ", body, re.MULTILINE), f"{section}.{key} missing"
