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
from collections.abc import Iterable, Sequence
from typing import Any

from bot.study.config import StudyConfigError
from bot.study.market import preload
from bot.study.placement import Loading, symbol_shares
from bot.study.worker import StudyTask, run_task

CONNECT_TIMEOUT = "5s"
LOAD_WAIT_SECONDS = 10.0  # how long `DaskWorkers.close` lets unfinished data loads run
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


class DaskWorkers:
    """The workers of a Dask cluster, as `bot.study.placement.run_placed` drives them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._distributed = importlib.import_module("distributed")
        self._loads: list[Any] = []

    def start_loading(self, data: str, symbols: Sequence[str]) -> Loading:
        """Have the workers load the study's data now, each its share (`symbol_shares`), side
        by side (`market.preload`); the loads' results are the spans `worker_spans` hands
        the check. The loads' futures are held until `close`: Dask forgets a task nobody
        holds."""
        shares = symbol_shares(sorted(self.client.scheduler_info()["workers"]), list(symbols))
        self._loads = [
            self.client.submit(
                preload, data, share, workers=[worker], allow_other_workers=False, pure=False
            )
            for worker, share in shares.items()
        ]
        return Loading(self._loads, shares)

    def nthreads(self) -> dict[str, int]:
        """Worker address -> its threads, as the scheduler knows them now."""
        threads: dict[str, int] = self.client.nthreads()
        return threads

    def run_on(self, worker: str, task: StudyTask) -> Any:
        """Send `task` to `worker`, loosely: should the worker leave, it runs elsewhere."""
        return self.client.submit(
            run_task, task, workers=[worker], allow_other_workers=True, pure=False
        )

    def wait_first(self, running: list[Any]) -> Iterable[Any]:
        """The futures of `running` that are done, once one is."""
        done: Iterable[Any] = self._distributed.wait(running, return_when="FIRST_COMPLETED").done
        return done

    def wait_for_workers(self, timeout: float) -> None:
        """Block until a worker joins the scheduler (TimeoutError after `timeout` s)."""
        self.client.wait_for_workers(1, timeout=timeout)

    def close(self, interrupted: bool = False) -> None:
        """Let go of the loads, once they have ended unless `interrupted` (a load cancelled
        while it runs makes its worker log a warning on the console; a load takes a second
        or so). The client stays connected: `disconnect` lets go of the rest."""
        if not interrupted:
            # A load bound to a worker that has left would never end: not waited for long.
            with contextlib.suppress(TimeoutError):
                self._distributed.wait(self._loads, timeout=LOAD_WAIT_SECONDS)
        self.client.cancel(self._loads)
        self._loads = []


def disconnect(client: Any) -> None:
    """Close a client from `connect` and the LocalCluster it started, if any."""
    local = client.cluster
    client.close()
    if local is not None:
        local.close()
