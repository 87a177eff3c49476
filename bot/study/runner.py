"""Plan a study, then run its tasks in-process, on a local process pool or on a Dask cluster.

Everything that can be wrong with the input is checked by `check_study` before any work: the data
path, each symbol's data, the windows against it, every strategy parameter set and every
vehicle (by building a cell's engine once). Each completed task is written to the study file in
one transaction as it arrives; a stop request (Ctrl-C) submits nothing more and waits for the
tasks in flight, whose results are kept. A re-run skips the cells the file already has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.adapters.replay.feather import DataFormatError
from bot.adapters.sqlite.study_store import StudyStore
from bot.config.settings import ConfigError
from bot.config.strategy_loader import StrategyLoadError
from bot.runtime.wiring import build_engine
from bot.study.cells import Cell, batch_cells, expand_cells
from bot.study.config import StudyConfig, StudyConfigError
from bot.study.fold import DECAY_COLUMNS, FEE_KINDS
from bot.study.local_pool import LocalPool
from bot.study.market import Span, symbol_data
from bot.study.placement import Loading, Workers, run_placed, worker_spans
from bot.study.worker import CellResult, StudyTask, cell_settings, run_task

if TYPE_CHECKING:
    from bot.study.dask_backend import DaskWorkers

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

    The data is loaded by this process (in-process runs), or, given `spans`, by whoever that
    asks (`Crew.spans`: the pool's or the Dask workers, which load it anyway, each its share,
    so this process does not compete with them for the cores); either raises
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


@dataclass(slots=True)
class Crew:
    """The workers a study runs on (None: in-process) and the data loads they started."""

    workers: Workers | None
    loading: Loading | None

    def spans(self) -> Callable[[], dict[str, Span]] | None:
        """For `check_study`: the spans the workers' loads report (None: load here)."""
        return worker_spans(self.loading)

    @property
    def held(self) -> dict[str, tuple[str, ...]] | None:
        """Worker address -> the symbols it loads (for `run_tasks`)."""
        return None if self.loading is None else self.loading.shares


@contextlib.contextmanager
def study_workers(config: StudyConfig, count: int, client: Any = None) -> Iterator[Crew]:
    """The workers of a study, each already loading its share of the data: a Dask `client`'s
    (`bot.study.dask_backend.connect`), else a local pool of `count` processes, else (`count`
    1) none: the cells run in this process, which loads the data itself.

    Closed at the end: tasks not started are dropped (nothing more is written after an
    error) and the pool's processes are waited for, unless a second Ctrl-C interrupted the
    run: then not for the tasks in flight either."""
    workers: LocalPool | DaskWorkers
    if client is not None:
        from bot.study.dask_backend import DaskWorkers  # distributed is an optional extra

        workers = DaskWorkers(client)
    elif count > 1:
        workers = LocalPool(count)
    else:
        yield Crew(None, None)
        return
    interrupted = False
    try:
        yield Crew(workers, workers.start_loading(str(config.study.data), config.study.symbols))
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        workers.close(interrupted)


def run_tasks(
    tasks: list[StudyTask],
    workers: Workers | None,
    stop: StopFlag,
    on_done: Callable[[list[CellResult]], None],
    held: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Run `tasks` on `workers` (`study_workers`), each first given the tasks of the symbols it
    `held` (`Crew.held`), or in this process (None); each result goes to `on_done` as it
    arrives. After a Ctrl-C (`stop`) nothing more starts; the tasks in flight finish."""
    if workers is not None:
        run_placed(tasks, workers, lambda: stop.stopped, on_done, held)
        return
    for task in tasks:
        if stop.stopped:
            return
        on_done(run_task(task))


def run_study_file(
    config: StudyConfig, count: int, client: Any = None, new: bool = False
) -> list[Cell]:
    """Check the study, then run every cell its study file does not hold yet, on `count`
    workers or a Dask `client`'s (`study_workers`), without a progress bar; every cell of the
    study. What `ltbot study run` does, for notebooks (`bot.study.run_study`) and benches."""
    with study_workers(config, count, client) as crew:
        cells = check_study(config, crew.spans())
        with open_study_file(config) as store:
            plan = plan_study(config, store, cells, new)
            with StopFlag() as stop:
                run_tasks(plan.tasks, crew.workers, stop, store_results(store), crew.held)
    return cells


def default_workers() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


def store_results(store: StudyStore) -> Callable[[list[CellResult]], None]:
    """What to do with a completed task: write it in one transaction."""

    def write(results: list[CellResult]) -> None:
        store.write_task([r.cell for r in results], [row for r in results for row in r.results])

    return write
