"""Run study cells: the engine and portfolios of `ltbot replay`, with a metrics sink.

`run_task` is what a worker process (a local pool's or a Dask worker's) executes: it takes a
picklable `StudyTask` and returns plain rows. A cell is replayed exactly as `ltbot replay`
replays a window (bot/runtime/replay_driver.py): the same settings model, `build_engine(...,
live=False)` and the candle screen without a jump bound in front of the engine; each step's
output goes to a metrics sink (bot/study/sink.py) instead of a session and its ledger.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import ValidationError

from bot.config.settings import ConfigError, Settings, format_validation_error
from bot.domain.values import Side
from bot.engine.candle_screen import CandleScreen
from bot.runtime.wiring import build_engine, portfolio_id, vehicle_params
from bot.study.cells import Cell
from bot.study.market import measure_regime, symbol_data, window_updates
from bot.study.sink import MetricsSink

EXPERIMENT = "study"


@dataclass(frozen=True, slots=True)
class StudyTask:
    """A batch of cells with what every cell shares (all picklable plain values)."""

    data: str
    capital: float
    fill: str
    timeframe: str | None
    vehicles: tuple[str, ...]
    presets: str  # JSON of the [presets] table
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class CellResult:
    """A completed cell: its `cells` row and one `results` row per vehicle."""

    cell: dict[str, Any]
    results: list[dict[str, Any]]


def cell_settings(task: StudyTask, cell: Cell) -> Settings:
    """The settings a `ltbot replay` of this cell would run with (one experiment, all
    vehicles); ConfigError naming the problem."""
    experiment: dict[str, Any] = {
        "name": EXPERIMENT,
        "symbol": cell.symbol,
        "strategy": cell.strategy,
        "params": cell.strategy_params(),
        "capital": task.capital,
        "vehicles": list(task.vehicles),
        "fill": task.fill,
    }
    if task.timeframe is not None:
        experiment["timeframe"] = task.timeframe
    document = {
        "exchange": {"symbols": [cell.symbol]},
        "experiments": [experiment],
        "presets": json.loads(task.presets),
    }
    try:
        return Settings(**document)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def run_cell(task: StudyTask, cell: Cell) -> CellResult:
    """Replay one cell through the engine into a metrics sink."""
    settings = cell_settings(task, cell)
    data = symbol_data(Path(task.data), cell.symbol)
    updates = window_updates(data, cell.start, cell.end)
    experiment = settings.experiments[0]
    targets = {portfolio_id(experiment, v): _target(settings, v) for v in experiment.vehicles}
    sink = MetricsSink(cell.start, cell.end, task.capital, targets)
    engine = build_engine(settings, live=False)
    runners = {runner.id: runner for runner in engine.runners}
    screen = CandleScreen(None)  # no jump bound in replay (bot/runtime/replay_driver.py)
    for update in updates:
        sink.fold(engine.step(screen.screen(update, engine.last_quotes)), runners)
    regime = measure_regime(updates, cell.symbol, cell.start, cell.end)
    metrics = sink.results()
    cell_row = {
        "id": cell.id,
        "symbol": cell.symbol,
        "start": cell.start.isoformat(),
        "end": cell.end.isoformat(),
        "strategy": cell.strategy,
        "params": cell.params,
        **dataclasses.asdict(regime),
        "capital": task.capital,
        "bars": len(updates),
        "portfolio_steps": len(updates) * len(targets),
    }
    rows = [
        {"cell_id": cell.id, "vehicle": v.label, **metrics[portfolio_id(experiment, v)]}
        for v in experiment.vehicles
    ]
    return CellResult(cell_row, rows)


def _target(settings: Settings, vehicle: Any) -> tuple[float, float] | None:
    # |L| of the token bought on a long and on a short signal (a fixed-direction family has
    # one token, bought on either), as the daily report takes it (bot/reports/job.py).
    if vehicle.kind != "token":
        return None
    tokens = vehicle_params(settings, vehicle).tokens
    only = next(iter(tokens.values()))
    return (
        abs(tokens.get(Side.LONG, only).target_leverage),
        abs(tokens.get(Side.SHORT, only).target_leverage),
    )


def run_task(task: StudyTask) -> list[CellResult]:
    """Run every cell of a task, in order (what a worker executes)."""
    # The engine's warnings (deaths, refusals) are per cell results here, not console lines.
    logger.disable("bot")
    # A cell makes millions of short-lived objects and next to no reference cycles: reference
    # counting frees them, and the cyclic collector, run every 700 allocations, only spent
    # time (about 8 % of the CPU of the compiled build). It runs again after the task.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [run_cell(task, cell) for cell in task.cells]
    finally:
        logger.enable("bot")
        if collecting:
            gc.enable()


PARENT_CHECK_SECONDS = 1.0  # how often a pool worker looks whether its parent is alive


def start_pool_worker() -> None:
    """A local pool worker's start-up: leave Ctrl-C to the parent, which lets tasks in flight
    finish; and end with the parent.

    A worker whose parent was killed (SIGKILL, OOM) would otherwise wait for its next task
    forever: its task queue never reports the end, since every forked worker holds the queue's
    writing end too. A daemon thread looks every second whether the parent is still the one
    that started it (as a Dask worker's `monitor_parent` does) and ends the process if not."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)  # an orphan: its results have nowhere to go

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
