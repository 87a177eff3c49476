"""Which worker runs which study task: each worker loads its share of the symbols, side by
side with the others, and then runs the tasks of the symbols it holds first.

One policy for both multi-process backends: the local pool (`bot/study/local_pool.py`) and Dask
(`bot/study/dask_backend.py`). A worker is named by an address string; a backend says which
workers there are and how many tasks each runs at once, sends a task to one of them, and
waits for the first of several tasks to finish.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.adapters.replay.feather import DataFormatError
from bot.study.market import Span
from bot.study.worker import CellResult, StudyTask

IN_FLIGHT_PER_THREAD = 2  # one running, one waiting: no worker idles between two tasks


class Workers(Protocol):
    """Worker processes that run study tasks (a local pool or a Dask cluster)."""

    def nthreads(self) -> dict[str, int]:
        """Worker address -> how many tasks it runs at once (empty: no worker yet)."""
        ...

    def run_on(self, worker: str, task: StudyTask) -> Any:
        """Send `task` to `worker`; a future whose `result()` is the task's cell results."""
        ...

    def wait_first(self, running: list[Any]) -> Iterable[Any]:
        """Block until one of the futures `running` is done; the done ones."""
        ...

    def wait_for_workers(self, timeout: float) -> None:
        """Block until a worker is there, or `timeout` seconds (TimeoutError)."""
        ...


@dataclass(frozen=True, slots=True)
class Loading:
    """The data loads a backend started: a future per worker (keep them until the run ends:
    Dask forgets a task nobody holds) and the symbols each worker loads."""

    futures: list[Any]
    shares: dict[str, tuple[str, ...]]  # worker address -> the symbols it loads


def symbol_shares(workers: Sequence[str], symbols: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The symbols each worker loads before the study: every symbol on at least one worker
    and one symbol at least on each; with as many symbols as workers or more, worker i takes
    every n-th from the i-th, with fewer, symbol i mod m."""
    n, m = len(workers), len(symbols)
    if m >= n:
        return {worker: tuple(symbols[i::n]) for i, worker in enumerate(workers)}
    return {worker: (symbols[i % m],) for i, worker in enumerate(workers)}


def worker_spans(loading: Loading | None) -> Callable[[], dict[str, Span]] | None:
    """For `check_study`: the data spans the workers' loads return (`market.preload`), once
    all are done; DataFormatError with the message of the first that failed, or when two
    workers see different data for a symbol. None without any load (in-process, or a Dask
    scheduler with no worker yet): the parent then loads the data itself."""
    if loading is None or not loading.futures:
        return None

    def spans() -> dict[str, Span]:
        found: dict[str, Span] = {}
        for future in loading.futures:
            result: dict[str, Span] | str = future.result()
            if isinstance(result, str):
                raise DataFormatError(result)
            for symbol, span in result.items():
                if found.setdefault(symbol, span) != span:
                    raise DataFormatError(f"the workers see different data for {symbol}")
        return found

    return spans


def run_placed(
    tasks: list[StudyTask],
    workers: Workers,
    stopped: Callable[[], bool],
    on_done: Callable[[list[CellResult]], None],
    held: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Run `tasks` on `workers`, two in flight per worker thread, each result to `on_done` as
    it arrives; nothing more is sent once `stopped()` (the tasks in flight finish).

    `held`: worker address -> the symbols its data cache holds (`Loading.shares`). A worker
    with a free slot gets the first task whose symbols it holds, else the first task (whose
    data it then loads), so a worker loads another symbol only when its own run out; without
    `held`, tasks go in order. Workers may join or leave while the study runs (Dask); with
    none yet, the tasks wait for one."""
    holds = {worker: set(symbols) for worker, symbols in (held or {}).items()}
    pending = [({cell.symbol for cell in task.cells}, task) for task in tasks]
    running: dict[Any, str] = {}  # future -> the worker it was sent to
    load: dict[str, int] = {}
    while True:
        while not stopped() and pending:
            threads = workers.nthreads()
            if not threads and not running:
                with contextlib.suppress(TimeoutError):  # look at `stopped` again every second
                    workers.wait_for_workers(1)
                continue
            free = [
                w for w in sorted(threads) if load.get(w, 0) < IN_FLIGHT_PER_THREAD * threads[w]
            ]
            if not free:
                break
            worker = min(free, key=lambda w: load.get(w, 0))
            mine = holds.setdefault(worker, set())
            at = next((i for i, (symbols, _) in enumerate(pending) if symbols <= mine), None)
            if at is None and running and _few_left(pending, holds, load, worker):
                break  # the workers that hold the data finish these sooner than a new load
            symbols, task = pending.pop(at or 0)
            mine |= symbols
            running[workers.run_on(worker, task)] = worker
            load[worker] = load.get(worker, 0) + 1
        if not running:
            return
        for future in list(workers.wait_first(list(running))):
            load[running.pop(future)] -= 1
            on_done(future.result())


def _few_left(
    pending: list[tuple[set[str], StudyTask]],
    holds: dict[str, set[str]],
    load: dict[str, int],
    worker: str,
) -> bool:
    # Whether to leave the next task to the workers that hold its data: its symbols have no
    # more tasks waiting than those workers have in flight, so they finish them about as
    # soon as this worker would have loaded the data (a load takes about two tasks' time on
    # the bench study: 0.8 s against 0.36 s a task).
    symbols = pending[0][0]
    holders = [w for w, held in holds.items() if w != worker and symbols <= held]
    waiting = sum(1 for other, _ in pending if other == symbols)
    return bool(holders) and waiting <= sum(load.get(w, 0) for w in holders)
