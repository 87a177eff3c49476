"""Run study tasks on Dask distributed: a LocalCluster or an existing scheduler.

Needs the optional extra (`pip install 'ltbot[dask]'`). Each Dask worker process keeps the
market data it has loaded (bot/study/market.py), like a local pool worker; every worker must
see the study's data path (a shared file system) and have ltbot installed (docs/STUDY.md).
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.adapters.replay.feather import DataFormatError
from bot.study.config import StudyConfigError
from bot.study.market import Span, preload
from bot.study.runner import StopFlag, drive
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


def start_loading(client: Any, data: str, symbols: Sequence[str]) -> list[Any]:
    """Have every worker load the study's data now, while this process checks the rest of the
    study: a worker runs one task at a time, so its first cells start once its data is in
    memory (as a forked pool worker finds it). Returns the loads' futures, whose results are
    the data spans the check needs (`worker_spans`): keep them until the run ends (Dask
    forgets a task nobody holds); cancel them if the check fails."""
    return [
        client.submit(
            preload, data, tuple(symbols), workers=[worker], allow_other_workers=False, pure=False
        )
        for worker in client.scheduler_info()["workers"]
    ]


def worker_spans(loading: list[Any]) -> Callable[[], dict[str, Span]] | None:
    """For `check_study`: the data spans the `start_loading` loads return, once all are done
    (every worker must see the study's data); DataFormatError with the message of the first
    that failed, or when two workers see different data. None without any load (a scheduler
    with no worker yet): the parent then loads the data itself."""
    if not loading:
        return None

    def spans() -> dict[str, Span]:
        results: list[dict[str, Span] | str] = [future.result() for future in loading]
        for result in results:
            if isinstance(result, str):
                raise DataFormatError(result)
        first = results[0]
        if any(result != first for result in results):
            raise DataFormatError("the Dask workers see different data under the study's path")
        assert not isinstance(first, str)  # narrowed above, for mypy
        return first

    return spans


def run_on_dask(
    tasks: list[StudyTask],
    client: Any,
    stop: StopFlag,
    on_done: Callable[[list[CellResult]], None],
) -> None:
    """Run `tasks` on the cluster of a Dask `client`, two tasks in flight per worker thread."""
    wait = importlib.import_module("distributed").wait
    slots = max(sum(client.nthreads().values()), 1) * 2

    def wait_first(running: set[Any]) -> Iterable[Any]:
        done: Iterable[Any] = wait(running, return_when="FIRST_COMPLETED").done
        return done

    drive(tasks, lambda t: client.submit(run_task, t, pure=False), wait_first, slots, stop, on_done)


def disconnect(client: Any) -> None:
    """Close a client from `connect` and the LocalCluster it started, if any."""
    local = client.cluster
    client.close()
    if local is not None:
        local.close()
