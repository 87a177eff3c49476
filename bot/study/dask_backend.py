"""Run study tasks on Dask distributed: a LocalCluster or an existing scheduler.

Needs the optional extra (`pip install 'ltbot[dask]'`). Each Dask worker process keeps the
market data it has loaded (bot/study/market.py), like a local pool worker; every worker must
see the study's data path (a shared file system) and have ltbot installed (docs/STUDY.md).
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.adapters.replay.feather import DataFormatError
from bot.study.config import StudyConfigError
from bot.study.market import Span, preload
from bot.study.runner import StopFlag
from bot.study.worker import CellResult, StudyTask, run_task

CONNECT_TIMEOUT = "5s"
# What a LocalCluster runs with (`--cluster local`); a scheduler of your own keeps its own
# configuration (docs/STUDY.md). A worker runs a study task in a thread beside its event loop,
# and every wake-up of the loop takes the GIL from the task. Without a dashboard nobody reads
# the statistical profiler (a stack sample every 10 ms) or the system monitor (CPU, memory and
# network every 500 ms); the loop's health tick (every 20 ms) only warns of a loop blocked for
# 3 s, which a 1 s tick still sees; and a worker of a few hundred MB needs no memory check
# (spill, pause, terminate) every 100 ms. Together about 5 % of the Dask run's wall time on the
# bench study (18.7-19.1 s against 17.8-17.9 s, scripts/bench_study.py), the profiler before.
LOCAL_WORKER_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def connect(cluster: str, workers: int) -> Any:
    """A Dask client: `local` starts a LocalCluster of `workers` processes (one thread each);
    `tcp://HOST:PORT` joins a running scheduler. StudyConfigError when it cannot."""
    try:
        # Imported by name: an optional extra, typed loosely (Any) like any dynamic import.
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise StudyConfigError(
            "--cluster needs Dask distributed: pip install 'ltbot[dask]'"
        ) from None
    if cluster == "local":
        # The worker processes start with Ctrl-C ignored (an ignored signal stays ignored in a
        # spawned child): Ctrl-C in a terminal reaches the whole process group, and a worker
        # killed by it would leave its task in flight forever; the parent decides when to stop.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            # LOCAL_WORKER_CONFIG (the profiler alone was about 11 % of the bench study's
            # CPU). Each nanny hands its worker the configuration set here.
            with importlib.import_module("dask").config.set(LOCAL_WORKER_CONFIG):
                # No dashboard, and the scheduler's small HTTP server (health, metrics) on a
                # free port instead of 8787: two studies, or another cluster's dashboard, never
                # collide there.
                local = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": ":0"},
                )
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return distributed.Client(local)
    if not cluster.startswith("tcp://"):
        raise StudyConfigError(f"--cluster: expected local or tcp://HOST:PORT, got {cluster!r}")
    try:
        return distributed.Client(cluster, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise StudyConfigError(f"--cluster {cluster}: cannot reach the scheduler ({exc})") from None


@dataclass(frozen=True, slots=True)
class Loading:
    """The data loads `start_loading` started: a future per worker (keep them until the run
    ends: Dask forgets a task nobody holds) and the symbols each worker loads."""

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


def start_loading(client: Any, data: str, symbols: Sequence[str]) -> Loading:
    """Have the workers load the study's data now, each its share (`symbol_shares`): the
    loads run side by side, and `run_on_dask` then hands each worker the tasks of the symbols
    it holds first, as far as they go (a forked pool worker inherits the parent's data
    instead). The loads' results are the data spans the check needs (`worker_spans`); cancel
    their futures if the check fails."""
    shares = symbol_shares(sorted(client.scheduler_info()["workers"]), list(symbols))
    futures = [
        client.submit(preload, data, share, workers=[worker], allow_other_workers=False, pure=False)
        for worker, share in shares.items()
    ]
    return Loading(futures, shares)


def worker_spans(loading: Loading) -> Callable[[], dict[str, Span]] | None:
    """For `check_study`: the data spans the `start_loading` loads return, once all are done;
    DataFormatError with the message of the first that failed, or when two workers see
    different data for a symbol. None without any load (a scheduler with no worker yet): the
    parent then loads the data itself."""
    if not loading.futures:
        return None

    def spans() -> dict[str, Span]:
        found: dict[str, Span] = {}
        for future in loading.futures:
            result: dict[str, Span] | str = future.result()
            if isinstance(result, str):
                raise DataFormatError(result)
            for symbol, span in result.items():
                if found.setdefault(symbol, span) != span:
                    raise DataFormatError(f"the Dask workers see different data for {symbol}")
        return found

    return spans


def run_on_dask(
    tasks: list[StudyTask],
    client: Any,
    stop: StopFlag,
    on_done: Callable[[list[CellResult]], None],
    held: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Run `tasks` on the cluster of a Dask `client`, two tasks in flight per worker thread.

    `held`: worker address -> the symbols its data cache holds (`Loading.shares`). A worker
    with a free slot gets the first task whose symbols it holds, else the first task (whose
    data it then loads), so a worker loads another symbol only when its own run out; without
    `held`, tasks go in order. Workers may join or leave while the study runs; with none yet,
    the tasks wait for one."""
    distributed = importlib.import_module("distributed")
    holds = {worker: set(symbols) for worker, symbols in (held or {}).items()}
    pending = [(_symbols(task), task) for task in tasks]
    running: dict[Any, str] = {}  # future -> the worker it was sent to
    load: dict[str, int] = {}
    while True:
        while not stop.stopped and pending:
            threads: dict[str, int] = client.nthreads()
            if not threads and not running:
                with contextlib.suppress(TimeoutError):  # look at `stop` again every second
                    client.wait_for_workers(1, timeout=1)
                continue
            free = [w for w in sorted(threads) if load.get(w, 0) < 2 * threads[w]]
            if not free:
                break
            worker = min(free, key=lambda w: load.get(w, 0))
            mine = holds.setdefault(worker, set())
            at = next((i for i, (symbols, _) in enumerate(pending) if symbols <= mine), None)
            if at is None and running and _few_left(pending, holds, load, worker):
                break  # the workers that hold the data finish these sooner than a new load
            symbols, task = pending.pop(at or 0)
            mine |= symbols
            # A loose placement: should the worker leave, the task runs elsewhere.
            future = client.submit(
                run_task, task, workers=[worker], allow_other_workers=True, pure=False
            )
            running[future] = worker
            load[worker] = load.get(worker, 0) + 1
        if not running:
            return
        for future in list(distributed.wait(list(running), return_when="FIRST_COMPLETED").done):
            load[running.pop(future)] -= 1
            on_done(future.result())


def _symbols(task: StudyTask) -> set[str]:
    return {cell.symbol for cell in task.cells}


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


def disconnect(client: Any) -> None:
    """Close a client from `connect` and the LocalCluster it started, if any."""
    local = client.cluster
    client.close()
    if local is not None:
        local.close()
