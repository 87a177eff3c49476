"""The local process pool of `ltbot study run --workers N`: one process per worker, each loading
its share of the symbols side by side with the others (as Dask workers do), then running the
tasks of its own symbols first (`bot.study.placement`).

One single-process executor per worker, not one executor of N: a shared executor hands each
task to whichever process is free, so a worker holding BTC's data would load ETH's for the next
task. The parent loads no market data: the workers' loads report the spans the check needs.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.study.market import preload
from bot.study.placement import Loading, symbol_shares
from bot.study.worker import StudyTask, run_task, start_pool_worker


class LocalPool:
    """`workers` worker processes on this machine (the `Workers` of `bot.study.placement`)."""

    def __init__(self, workers: int) -> None:
        # Each process starts at its first task (fork on Linux), with Ctrl-C left to the parent,
        # which lets the tasks in flight finish (`StopFlag`), and ends with the parent
        # (`start_pool_worker`).
        self._executors = {
            f"local-{i + 1}": cf.ProcessPoolExecutor(1, initializer=start_pool_worker)
            for i in range(workers)
        }

    def nthreads(self) -> dict[str, int]:
        """Each worker process runs one task at a time."""
        return dict.fromkeys(self._executors, 1)

    def run_on(self, worker: str, task: StudyTask) -> cf.Future[Any]:
        """Send `task` to `worker`'s process."""
        return self.call(worker, run_task, task)

    def call(self, worker: str, function: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Run `function(*args)` in `worker`'s process (picklable, like a task)."""
        return self._executors[worker].submit(function, *args)

    def wait_first(self, running: list[Any]) -> Iterable[Any]:
        """The futures of `running` that are done, once one is."""
        return cf.wait(running, return_when=cf.FIRST_COMPLETED).done

    def wait_for_workers(self, timeout: float) -> None:
        """The workers are there from the start."""
        del timeout

    def start_loading(self, data: str, symbols: Sequence[str]) -> Loading:
        """Have each worker load its share of the study's data now (`market.preload`); the
        loads' results are the spans `placement.worker_spans` hands the check."""
        shares = symbol_shares(sorted(self._executors), list(symbols))
        futures = [self.call(w, preload, data, share) for w, share in shares.items()]
        return Loading(futures, shares)

    def close(self, interrupted: bool = False) -> None:
        """Drop the tasks not started (none after a finished run; after a failed check or
        task nothing more is written) and wait for the worker processes to end; when
        `interrupted` (a second Ctrl-C), not for the tasks in flight either: they are redone
        on resume."""
        for executor in self._executors.values():
            # Waiting where nothing is interrupted: a pool left to end by itself could race
            # the interpreter's exit, which then printed an "Exception ignored" traceback
            # (concurrent.futures' _python_exit waking a manager thread already gone).
            executor.shutdown(wait=not interrupted, cancel_futures=True)
