"""An experiment's `timeframe` key is part of what its portfolios are (issue 17 point 7): a
ledger written on the strategy's own 1h bars refuses a start with `timeframe = "5m"`, with one
line naming the portfolio and the key, writing nothing; a ledger written with no timeframe key
keeps its portfolio rows as before (the key is stored only when set). The daemon fetches
candles of the overridden timeframe."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from bot.config.settings import load_settings
from bot.runtime.wiring import portfolio_rows
from tests.storage_kit import console_lines, dump, run_steps, start, write_config


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(None, speed=0) as exchange:
        yield exchange


def with_timeframe(config: Path, timeframe: str) -> Path:
    text = config.read_text(encoding="utf-8")
    marker = 'strategy = "sma_cross"\n'
    config.write_text(text.replace(marker, f'{marker}timeframe = "{timeframe}"\n'), "utf-8")
    return config


def test_the_timeframe_is_stored_only_when_set(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1")
    assert "timeframe" not in portfolio_rows(load_settings(config))[0].params
    rows = portfolio_rows(load_settings(with_timeframe(config, "5m")))
    assert {row.params["timeframe"] for row in rows} == {"5m"}


def test_a_changed_timeframe_is_refused_and_nothing_is_written(
    sim: SimExchange, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    daemon = run_steps(sim, write_config(tmp_path, sim.url), db, 3)
    assert daemon.stop() == 0
    before = dump(db)

    result = start(with_timeframe(write_config(tmp_path, sim.url), "5m"))

    assert result.returncode == 2
    [line] = console_lines(result)
    assert line.startswith("error: portfolio btc-sma/")
    assert "timeframe changed (the strategy's own in the ledger, 5m in the config)" in line
    assert dump(db) == before


@pytest.mark.parametrize(("timeframe", "recorded"), [("5m", {"5m"}), (None, {"1h"})])
def test_the_daemon_fetches_the_overridden_timeframe(
    sim: SimExchange, tmp_path: Path, timeframe: str | None, recorded: set[str]
) -> None:
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, sim.url)
    if timeframe is not None:
        with_timeframe(config, timeframe)
    daemon = run_steps(sim, config, db, 3)
    assert daemon.stop() == 0
    with sqlite3.connect(db) as conn:
        timeframes = {tf for (tf,) in conn.execute("SELECT DISTINCT timeframe FROM candles")}
    assert timeframes == recorded
