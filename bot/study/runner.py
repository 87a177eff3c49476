"""Plan a study, then run its tasks in-process, on a local process pool or on a Dask cluster.

Everything that can be wrong with the input is checked by `check_study` before any work: the data
path, each symbol's data, the windows against it, every strategy parameter set and every
vehicle (by building a cell's engine once). Each completed task is written to the study file in
one transaction as it arrives; a stop request (Ctrl-C) submits nothing more and waits for the
tasks in flight, whose results are kept. A re-run skips the cells the file already has.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import gc
import json
import os
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from bot import __version__
from bot.adapters.replay.feather import DataFormatError
from bot.adapters.sqlite.study_store import StudyStore
from bot.config.settings import ConfigError
from bot.config.strategy_loader import StrategyLoadError
from bot.runtime.wiring import build_engine
from bot.study.cells import Cell, batch_cells, expand_cells
from bot.study.config import StudyConfig, StudyConfigError
from bot.study.fold import DECAY_COLUMNS, FEE_KINDS
from bot.study.market import Span, symbol_data
from bot.study.worker import CellResult, StudyTask, cell_settings, ignore_interrupts, run_task

CELL_COLUMNS: dict[str, type] = {
    "symbol": str, "start": str, "end": str, "strategy": str, "params": str,
    "underlying_return": float, "trend_efficiency": float, "realised_vol": float,
    "funding_mean": float, "capital": float, "bars": int, "portfolio_steps": int,
}  # fmt: skip
RESULT_COLUMNS: dict[str, type] = {
    "final_nav": float, "total_return": float, "log_return": float, "max_drawdown": float,
    "time_under_water": float, "sharpe": float, "sortino": float,
    **{f"fee_{k}": float for k in sorted(FEE_KINDS)},
    "funding": float, "fills": int, "stops": int, "take_profits": int, "liquidations": int,
    "rebalances": int, "died_at": str,
    **dict.fromkeys(DECAY_COLUMNS, float),
}  # fmt: skip


@dataclass(slots=True)
class StudyPlan:
    """A validated study: every cell, the ones still to run, grouped into tasks."""

    config: StudyConfig
    cells: list[Cell]
    todo: list[Cell]
    tasks: list[StudyTask] = field(default_factory=list)


def open_study_file(config: StudyConfig) -> StudyStore:
    """Open (or create) the config's study file."""
    return StudyStore(config.study.db, CELL_COLUMNS, RESULT_COLUMNS)


def check_study(
    config: StudyConfig, spans: Callable[[], dict[str, Span]] | None = None
) -> list[Cell]:
    """Every cell of the study, once the input is checked: the data path and each symbol's
    data, the windows against it, every strategy parameter set and vehicle (one engine built
    per symbol and parameter set). StudyConfigError (one line) on the first problem.

    The data is loaded by this process (a local pool's forked workers inherit it), or, given
    `spans`, by whoever that asks (`dask_backend.worker_spans`: the Dask workers, which load it
    anyway, so this process does not compete with them for the cores); either raises
    DataFormatError on bad data."""
    try:
        if spans is None:
            found = {s: symbol_data(config.study.data, s).span for s in config.study.symbols}
        else:
            found = spans()
    except DataFormatError as exc:
        raise StudyConfigError(str(exc)) from None
    cells = expand_cells(config, found)
    _check_engines(_template(config), cells)
    return cells


def plan_study(
    config: StudyConfig, store: StudyStore, cells: list[Cell], new: bool = False
) -> StudyPlan:
    """Claim the study file for this config and list the cells still to run, in tasks.

    StudyConfigError when the file holds a study of another config (unless `new`: then the
    file is emptied and the study starts over)."""
    meta = store.meta()
    fingerprint = config.fingerprint()
    if meta and meta.get("fingerprint") != fingerprint:
        if not new:
            raise StudyConfigError(
                f"{config.study.db}: holds a study of another config (fingerprint "
                f"{meta.get('fingerprint')}, this one {fingerprint}); pass --new to start over"
            )
        store.clear()
        meta = {}
    if not meta:
        config_json = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True)
        store.set_meta({"fingerprint": fingerprint, "config": config_json, "version": __version__})
    done = store.done()
    todo = [c for c in cells if c.id not in done]
    template = _template(config)
    tasks = [
        dataclasses.replace(template, cells=tuple(batch))
        for batch in batch_cells(todo, config.study.cells_per_task)
    ]
    return StudyPlan(config, cells, todo, tasks)


def _template(config: StudyConfig) -> StudyTask:
    return StudyTask(
        data=str(config.study.data),
        capital=config.study.capital,
        fill=config.study.fill,
        timeframe=config.study.timeframe,
        vehicles=tuple(v.label for v in config.vehicle_specs()),
        presets=json.dumps(config.presets, sort_keys=True),
        cells=(),
    )


def _check_engines(template: StudyTask, cells: list[Cell]) -> None:
    # One engine per strategy parameter set and symbol: a bad parameter, an unknown strategy or
    # a vehicle the symbol cannot run fails here, before any work.
    seen: set[tuple[str, str, str]] = set()
    for cell in cells:
        key = (cell.symbol, cell.strategy, cell.params)
        if key in seen:
            continue
        seen.add(key)
        try:
            build_engine(cell_settings(template, cell), live=False)
        except (ConfigError, StrategyLoadError) as exc:
            raise StudyConfigError(f"strategies: {cell.strategy} {cell.params}: {exc}") from None


class StopFlag:
    """Set by Ctrl-C (SIGINT) while installed: no new tasks; a second Ctrl-C interrupts."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True


Submit = Callable[[StudyTask], Any]
WaitFirst = Callable[[set[Any]], Iterable[Any]]


def drive(
    tasks: list[StudyTask],
    submit: Submit,
    wait_first: WaitFirst,
    limit: int,
    stop: StopFlag,
    on_done: Callable[[list[CellResult]], None],
) -> None:
    """Keep up to `limit` tasks in flight; hand each result to `on_done` as it completes."""
    queue = iter(tasks)
    running: set[Any] = set()
    while True:
        while not stop.stopped and len(running) < limit:
            task = next(queue, None)
            if task is None:
                break
            running.add(submit(task))
        if not running:
            return
        for future in list(wait_first(running)):
            running.discard(future)
            on_done(future.result())


def run_tasks(
    tasks: list[StudyTask],
    workers: int,
    client: Any | None,
    stop: StopFlag,
    on_done: Callable[[list[CellResult]], None],
    held: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Run `tasks` on a Dask `client` (bot.study.dask_backend.connect) when given, each worker
    first given the tasks of the symbols it `held` (`Loading.shares`), else in-process (1
    worker) or on a local pool of `workers` processes."""
    if client is not None:
        from bot.study.dask_backend import run_on_dask  # distributed is an optional extra

        run_on_dask(tasks, client, stop, on_done, held)
    elif workers <= 1:
        for task in tasks:
            if stop.stopped:
                return
            on_done(run_task(task))
    else:
        pool = cf.ProcessPoolExecutor(workers, initializer=ignore_interrupts)
        # As the gc module advises before a fork without exec: what this process holds (the
        # market data the check loaded, which the forked workers inherit) moves out of the
        # cyclic collector's sight, so no worker's collection walks it or writes to its
        # pages (which copy-on-write would then copy). Undone once the pool is shut down.
        gc.freeze()

        def wait_first(running: set[Any]) -> Iterable[Any]:
            return cf.wait(running, return_when=cf.FIRST_COMPLETED).done

        try:
            drive(tasks, lambda t: pool.submit(run_task, t), wait_first, workers * 2, stop, on_done)
        except BaseException:
            # A second Ctrl-C or a failing task: drop the queued tasks, write nothing more.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        else:
            pool.shutdown()
        finally:
            gc.unfreeze()


def default_workers() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


def store_results(store: StudyStore) -> Callable[[list[CellResult]], None]:
    """What to do with a completed task: write it in one transaction."""

    def write(results: list[CellResult]) -> None:
        store.write_task([r.cell for r in results], [row for r in results for row in r.results])

    return write
