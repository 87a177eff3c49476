"""Benchmarks behind `make bench`; prints a table to paste into docs/PERFORMANCE.md.

Each benchmark runs at least 3 times and reports the median. No benchmark asserts a time.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.sqlite_store import PortfolioRow, PortfolioStep, StepBatch, Store
from bot.domain.ledger import NavRecord
from bot.domain.values import Quote

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def median_seconds(run: Callable[[], None], repeats: int = 3) -> float:
    """Median wall time of `repeats` runs of `run`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_store_steps(steps: int = 5_000, portfolios: int = 7) -> tuple[float, str]:
    """Write `steps` steps of one quote plus a NAV row per portfolio, one transaction each."""

    def run() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            ids = [f"bench/{i}" for i in range(portfolios)]
            store.upsert_portfolios(
                [PortfolioRow(pid, "bench", "spot", "hold", "BTC/USDT:USDT", 1e4) for pid in ids]
            )
            for i in range(steps):
                at = T0 + timedelta(seconds=15 * i)
                nav = [NavRecord(at, 1e4, 1e4, 0.0, 0.0, 100.0)]
                store.write_step(
                    StepBatch(
                        quotes=[Quote("BTC/USDT:USDT", at, 100.0 + i)],
                        portfolios=[PortfolioStep(pid, nav=nav) for pid in ids],
                    )
                )

    seconds = median_seconds(run)
    return seconds, f"{steps / seconds:,.0f} steps/s ({steps} steps x {portfolios} NAV rows)"


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}"
    )
    for name, bench in [("store write_step (1 txn per step)", bench_store_steps)]:
        seconds, detail = bench()
        print(f"| {name} | {seconds:.3f} s | {detail} |")


if __name__ == "__main__":
    main()
