"""The SQLite ledger: migrations, WAL, atomic steps, round trips of every table."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.adapters.sqlite.migrations import migrations
from bot.adapters.sqlite.queries import TABLES
from bot.adapters.sqlite.store import Store, StoreError
from bot.domain.records import FeeRecord, FillRecord, NavRecord, PositionRecord, TokenEventRecord
from bot.domain.values import Candle, FeeKind, FillReason, FundingRate, Quote, TokenEventKind
from bot.engine.ports import EngineState, PortfolioRow, PortfolioStep, StepBatch, VehicleParams

T0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def _portfolio(store: Store, pid: str = "btc-hold/perp") -> str:
    store.upsert_portfolios(
        [PortfolioRow(pid, "btc-hold", "perp", "hold", "BTC/USDT:USDT", 10_000.0, {"a": 1})]
    )
    return pid


def test_creates_parent_directory_wal_and_private_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "ledger.db"
    with Store(path) as store:
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert path.stat().st_mode & 0o777 == 0o600


def test_migrations_apply_twice_without_change(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Store(path) as store:
        first = [m.name for m in migrations.applied(store.db)]
        migrations.apply(store.db)  # a second apply is a no-op
        second = [m.name for m in migrations.applied(store.db)]
        tables = set(store.db.table_names())
    with Store(path) as reopened:  # and so is the apply at the next start
        third = [m.name for m in migrations.applied(reopened.db)]
    every = [m.name for m in migrations.pending(Database(memory=True))]
    assert first == second == third == every
    assert every[0] == "0001_ledger"
    assert set(TABLES) <= tables


def test_runs_round_trip(store: Store) -> None:
    run_id = store.start_run(T0, "replay", "binanceusdm", {"exchange": {"id": "x"}}, "0.1.0")
    store.end_run(run_id, T0 + timedelta(hours=1))
    [row] = store.rows("runs")
    assert row == {
        "id": run_id,
        "started_at": "2024-01-01T08:00:00.000Z",
        "ended_at": "2024-01-01T09:00:00.000Z",
        "mode": "replay",
        "exchange": "binanceusdm",
        "config": '{"exchange": {"id": "x"}}',
        "version": "0.1.0",
        "covered_to": None,  # no step written through this store since start_run
    }


def test_market_data_round_trips_and_duplicates_are_ignored(store: Store) -> None:
    quote = Quote(
        "BTC/USDT:USDT",
        T0 + timedelta(milliseconds=5),
        42_000.5,
        42_001.0,
        42_000.0,
        42_000.4,
        42_000.6,
        0.0001,
        T0 + timedelta(hours=8),
    )
    candle = Candle("BTC/USDT:USDT", "5m", T0, 1.0, 2.0, 0.5, 1.5, 10.0)
    rate = FundingRate("BTC/USDT:USDT", T0, -0.00025)
    poll = StepBatch(quotes=[quote], candles=[candle], funding_rates=[rate])
    store.write_steps([poll])
    store.write_steps([poll])  # a replayed poll adds nothing
    assert list(store.iter_ticks()) == [quote]
    assert list(store.iter_candles("BTC/USDT:USDT", "5m")) == [candle]
    assert store.funding_rates("BTC/USDT:USDT") == [rate]
    assert store.rows("ticks")[0]["at"] == "2024-01-01T08:00:00.005Z"
    assert (store.count("ticks"), store.count("candles"), store.count("funding_rates")) == (1, 1, 1)


def test_portfolio_step_round_trips_every_ledger_table(store: Store) -> None:
    pid = _portfolio(store)
    fill = FillRecord(T0, "BTC/USDT:USDT", "buy", 0.5, 40_000.0, 10.0, FillReason.ENTRY)
    fees = [
        FeeRecord(T0, FeeKind.TRADING, 10.0, fill_index=0),
        FeeRecord(T0, FeeKind.FUNDING, -1.25),
    ]
    event = TokenEventRecord(T0, TokenEventKind.REBALANCE, 4.1, 3.0, 12.5, 1234.5)
    position = PositionRecord(
        "btc-hold/perp#1",
        "BTC/USDT:USDT",
        "long",
        T0,
        40_000.0,
        0.5,
        39_000.0,
        None,
        0.02,
        2.0,
        20_200.0,
        intended_risk=200.0,
        effective_risk=199.5,
    )
    nav = NavRecord(T0, 9_990.0, 9_990.0, 20_000.0, 2.002, 40_000.0)
    step = PortfolioStep(pid, [fill], fees, [event], [position], [nav])
    store.write_steps([StepBatch(portfolios=[step])])

    [fill_row] = store.rows("fills")
    assert fill_row["reason"] == "entry" and fill_row["qty"] == 0.5 and fill_row["fee"] == 10.0
    fee_rows = store.rows("fees", order_by="id")
    assert [(r["kind"], r["amount"], r["fill_id"]) for r in fee_rows] == [
        ("trading", 10.0, fill_row["id"]),
        ("funding", -1.25, None),
    ]
    [event_row] = store.rows("token_events")
    assert (event_row["kind"], event_row["leverage_before"], event_row["notional_traded"]) == (
        "rebalance",
        4.1,
        1234.5,
    )
    [pos_row] = store.rows("positions")
    assert pos_row["closed_at"] is None and pos_row["effective_risk"] == 199.5
    [nav_row] = store.rows("nav")
    assert nav_row == {
        "portfolio_id": pid,
        "at": "2024-01-01T08:00:00.000Z",
        "nav": 9_990.0,
        "cash": 9_990.0,
        "exposure": 20_000.0,
        "leverage": 2.002,
        "price": 40_000.0,
    }
    [portfolio] = store.rows("portfolios")
    assert portfolio["params"] == '{"a": 1}' and portfolio["capital"] == 10_000.0


def test_position_update_closes_the_same_row(store: Store) -> None:
    pid = _portfolio(store)
    opened = PositionRecord(
        "p#1", "BTC/USDT:USDT", "short", T0, 100.0, 2.0, 105.0, 90.0, 0.05, 1.0, 190.0
    )
    closed = PositionRecord(
        "p#1",
        "BTC/USDT:USDT",
        "short",
        T0,
        100.0,
        2.0,
        105.0,
        90.0,
        0.05,
        1.0,
        190.0,
        T0 + timedelta(hours=2),
        105.0,
        -10.2,
        "stop",
    )
    store.write_steps([StepBatch(portfolios=[PortfolioStep(pid, positions=[opened])])])
    store.write_steps([StepBatch(portfolios=[PortfolioStep(pid, positions=[closed])])])
    [row] = store.rows("positions")
    assert (row["closed_at"], row["exit_price"], row["pnl"], row["exit_reason"]) == (
        "2024-01-01T10:00:00.000Z",
        105.0,
        -10.2,
        "stop",
    )


def test_funding_is_booked_once_per_settlement(store: Store) -> None:
    pid = _portfolio(store)
    funding = FeeRecord(T0, FeeKind.FUNDING, 3.0)
    store.write_steps([StepBatch(portfolios=[PortfolioStep(pid, fees=[funding])])])
    with pytest.raises(sqlite3.IntegrityError):
        store.write_steps([StepBatch(portfolios=[PortfolioStep(pid, fees=[funding])])])
    assert store.count("fees") == 1


def test_a_failing_step_writes_nothing(store: Store) -> None:
    pid = _portfolio(store)
    quote = Quote("BTC/USDT:USDT", T0, 1.0)
    good = PortfolioStep(pid, nav=[NavRecord(T0, 1.0, 1.0, 0.0, 0.0, 1.0)])
    bad = PortfolioStep("no-such-portfolio", nav=[NavRecord(T0, 1.0, 1.0, 0.0, 0.0, 1.0)])
    with pytest.raises(sqlite3.IntegrityError):  # foreign key: unknown portfolio
        store.write_steps([StepBatch(quotes=[quote], portfolios=[good, bad])])
    assert (store.count("ticks"), store.count("nav")) == (0, 0)


def test_time_filters_are_inclusive(store: Store) -> None:
    quotes = [Quote("ETH/USDT:USDT", T0 + timedelta(minutes=i), 100.0 + i) for i in range(5)]
    store.write_steps([StepBatch(quotes=quotes)])
    got = list(
        store.iter_ticks(["ETH/USDT:USDT"], T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    )
    assert [q.last for q in got] == [101.0, 102.0, 103.0]


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_unknown_table_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown table"):
        store.rows("sqlite_master")


def test_engine_state_is_written_with_the_step(store: Store) -> None:
    assert store.load_state("live") is None
    state = EngineState("live", T0, '{"x":1}')
    store.write_steps([StepBatch(quotes=[Quote("BTC/USDT:USDT", T0, 1.0)], state=state)])
    store.write_steps([StepBatch(state=EngineState("live", T0 + timedelta(hours=1), '{"x":2}'))])
    assert store.load_state("live") == EngineState("live", T0 + timedelta(hours=1), '{"x":2}')


def test_vehicle_params_are_stored_once_and_never_rewritten(store: Store) -> None:
    first = VehicleParams("perp_static", params={"leverage": 3.0, "taker_fee": None})
    later = VehicleParams("perp_static", params={"leverage": 3.0, "taker_fee": 0.0004})
    row = PortfolioRow("e/perp_static", "e", "perp_static", "hold", "BTC/USDT:USDT", 1e3)
    assert store.upsert_portfolios([row]) == []  # none given: none stored
    assert store.vehicle_params() == {}
    assert store.upsert_portfolios([replace(row, vehicle_params=first)]) == []
    assert store.upsert_portfolios([replace(row, vehicle_params=first)]) == []
    assert store.upsert_portfolios([replace(row, vehicle_params=later)]) == ["e/perp_static"]
    assert store.vehicle_params() == {"e/perp_static": first}
    [stored] = store.rows("vehicle_params")
    assert stored["params"] == (
        '{"kind": "perp_static", "params": {"leverage": 3.0, "taker_fee": null}, "tokens": {}}'
    )
