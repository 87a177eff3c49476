"""The results table is identical, byte for byte, on 1 worker, 2 local workers and Dask."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from pathlib import Path

import pytest

from bot.study import market, run_study
from bot.study.config import StudyConfig, StudyConfigError
from bot.study.local_pool import LocalPool
from bot.study.market import symbol_data
from bot.study.placement import Loading, symbol_shares, worker_spans
from bot.study.runner import (
    StopFlag,
    check_study,
    open_study_file,
    plan_study,
    run_study_file,
    run_tasks,
    store_results,
    study_workers,
)
from bot.study.worker import CellResult
from tests.study.kit import BTC, ETH, study_config, study_doc


def results_dump(path: Path) -> list[str]:
    """The results and cells tables as SQL text, in primary-key order."""
    with sqlite3.connect(path) as db:
        lines = []
        for table, order in (("results", "cell_id, vehicle"), ("cells", "id")):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                lines.append(f"{table} {row!r}")
    return lines


def run(db: Path, workers: int, client: object = None) -> list[str]:
    # As `ltbot study run`: the pool's or Dask's workers load the data and give the spans.
    run_study_file(study_config(db), workers, client)
    return results_dump(db)


def test_one_and_two_local_workers_write_the_same_results(tmp_path: Path) -> None:
    one = run(tmp_path / "one.db", 1)
    two = run(tmp_path / "two.db", 2)
    assert len(one) == 4 * 7 + 4  # 2 symbols x 2 windows, 7 vehicles each
    assert one == two


def test_each_pool_worker_loads_its_share_and_runs_its_own_symbol(tmp_path: Path) -> None:
    config = study_config(tmp_path / "pool.db")
    market.clear_cache()  # a forked worker inherits what this process has loaded
    with study_workers(config, 2) as crew:
        pool = crew.workers
        assert isinstance(pool, LocalPool)
        # The parent loads nothing: the workers' loads report the spans the check needs.
        assert crew.held == {"local-1": (BTC,), "local-2": (ETH,)}
        spans_of = crew.spans()
        assert spans_of is not None
        cells = check_study(config, spans_of)
        assert market._CACHE == {}
        with open_study_file(config) as store:
            plan = plan_study(config, store, cells)
            ran: dict[str, list[str]] = {}

            def on_done(results: list[CellResult]) -> None:
                symbols = {r.cell["symbol"] for r in results}
                assert len(symbols) == 1
                ran.setdefault(symbols.pop(), []).append("task")
                store_results(store)(results)

            with StopFlag() as stop:
                run_tasks(plan.tasks, pool, stop, on_done, crew.held)
        cached = {w: pool.call(w, _cached_symbols).result() for w in ("local-1", "local-2")}
    # Neither worker had to load the other's data: each ran its own symbol's tasks.
    assert cached == {"local-1": [BTC], "local-2": [ETH]}
    assert spans_of() == {s: symbol_data(config.study.data, s).span for s in config.study.symbols}
    assert sorted(ran) == [BTC, ETH]
    assert results_dump(tmp_path / "pool.db") == run(tmp_path / "one.db", 1)


def test_a_symbol_without_data_fails_the_pool_check_with_the_parent_line(tmp_path: Path) -> None:
    config = _with_sol(study_config(tmp_path / "pool.db"))
    with study_workers(config, 2) as crew, pytest.raises(StudyConfigError) as on_workers:
        check_study(config, crew.spans())
    with pytest.raises(StudyConfigError) as here:
        check_study(config)
    assert str(on_workers.value) == str(here.value) == NO_SOL
    assert not (tmp_path / "pool.db").exists()


def _with_sol(config: StudyConfig) -> StudyConfig:
    symbols = (*config.study.symbols, "SOL/USDT:USDT")
    return config.model_copy(update={"study": config.study.model_copy(update={"symbols": symbols})})


NO_SOL = "no futures candles for SOL/USDT:USDT in the data directory"


def test_dask_local_cluster_of_two_workers_writes_the_same_results(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from bot.study.dask_backend import DaskWorkers, connect, disconnect

    config = study_config(tmp_path / "dask.db")
    spans = {s: symbol_data(config.study.data, s).span for s in config.study.symbols}
    with socket.socket() as dashboard:  # Dask's default HTTP port, taken (warnings are errors)
        with contextlib.suppress(OSError):
            dashboard.bind(("127.0.0.1", 8787))
            dashboard.listen()
        client = connect("local", 2)
    try:
        assert len(client.nthreads()) == 2  # two worker processes
        # ... without the statistical profiler nobody reads (no dashboard), and with the
        # event loop woken less often (LOCAL_WORKER_CONFIG)
        assert list(client.run(_profiling).values()) == [False, False]
        assert list(client.run(_intervals).values()) == [("2s", "1s", "1s")] * 2
        # Each worker loads its share of the data before its first cell and reports the spans
        # the parent checks the study with (the parent loads nothing).
        loading = DaskWorkers(client).start_loading(str(config.study.data), config.study.symbols)
        first, second = sorted(client.nthreads())
        assert loading.shares == {first: (BTC,), second: (ETH,)}
        assert [f.result() for f in loading.futures] == [{BTC: spans[BTC]}, {ETH: spans[ETH]}]
        on_dask = run(tmp_path / "dask.db", 2, client)
        # Each ran the cells of its own symbol only: neither had to load the other's data.
        assert client.run(_cached_symbols) == {first: [BTC], second: [ETH]}
        # A symbol without data fails the check with the line the parent's own load gives.
        missing = _with_sol(config)
        with study_workers(missing, 2, client) as crew, pytest.raises(StudyConfigError) as bad:
            check_study(missing, crew.spans())
        with pytest.raises(StudyConfigError) as here:
            check_study(missing)
        assert str(bad.value) == str(here.value) == NO_SOL
    finally:
        disconnect(client)
    assert on_dask == run(tmp_path / "one.db", 1)


def _profiling() -> bool:
    # Runs in a Dask worker: whether its statistical profiler samples the tasks.
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def _intervals() -> tuple[str, str, str]:
    # Runs in a Dask worker: its system monitor, loop tick and memory check intervals.
    import dask

    keys = (
        "admin.system-monitor.interval",
        "admin.tick.interval",
        "worker.memory.monitor-interval",
    )
    return tuple(dask.config.get(f"distributed.{key}") for key in keys)  # type: ignore[return-value]


def _cached_symbols() -> list[str]:
    # Runs in a pool or Dask worker: the symbols its market-data cache holds.
    from bot.study import market

    return sorted(symbol for _, symbol in market._CACHE)


def test_notebook_function_returns_one_row_per_cell_and_vehicle(tmp_path: Path) -> None:
    frame = run_study(study_doc(tmp_path / "nb.db"))
    assert frame.shape[0] == 4 * 7
    assert {"cell_id", "vehicle", "log_return", "symbol", "trend_efficiency"} <= set(frame.columns)
    assert set(frame["vehicle"]) == {
        "token:binance_blvt", "token:ftx", "token:bybit", "perp:risk_pct=0.02",
        "perp:risk_pct=0.05", "perp_static:leverage=3", "spot",
    }  # fmt: skip
    # A second call runs nothing and returns the same rows.
    assert run_study(study_doc(tmp_path / "nb.db")).equals(frame)


def test_without_any_dask_worker_the_parent_loads_the_data_itself() -> None:
    # A scheduler of your own with no worker yet: no load to ask, so `check_study` loads.
    assert worker_spans(Loading([], {})) is None


def test_each_symbol_is_loaded_by_a_worker_and_each_worker_loads_one_at_least() -> None:
    assert symbol_shares(["a", "b"], ["X", "Y", "Z"]) == {"a": ("X", "Z"), "b": ("Y",)}
    assert symbol_shares(["a", "b", "c"], ["X", "Y"]) == {"a": ("X",), "b": ("Y",), "c": ("X",)}
    assert symbol_shares(["a"], ["X", "Y"]) == {"a": ("X", "Y")}


def test_a_task_holds_cells_of_one_symbol(tmp_path: Path) -> None:
    # 2 symbols x 2 windows in tasks of 3: one symbol per task, so a Dask worker that holds
    # one symbol's data runs whole tasks of it.
    study = {**study_doc(tmp_path / "s.db")["study"], "cells_per_task": 3}
    config = study_config(tmp_path / "s.db", study=study)
    with open_study_file(config) as store:
        plan = plan_study(config, store, check_study(config))
    assert [[c.symbol for c in t.cells] for t in plan.tasks] == [[BTC, BTC], [ETH, ETH]]
