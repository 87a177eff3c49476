"""Benchmark `ltbot study` (issue 19 point 6): the same study on 1 and 2 local workers and on a
Dask LocalCluster of 2 workers.

Study: BTC and ETH 1h 2019-09..2026-05 from ../shared/data/binance_usdm/1h, 90-day windows
starting every 30 days, strategies hold (long) and sma_cross (defaults), the 7 default
vehicles. Each run writes a fresh study file; the results tables of the runs must be equal.
Prints cells, portfolio-bar steps per second, wall time, scaling efficiency and peak memory
per worker (max RSS of the worker processes; for 1 worker, of this process).

Run alone: .venv/bin/python scripts/bench_study.py [--quick]  (--quick: one year, 32 cells)
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "binance_usdm" / "1h"
VEHICLES = ["token:binance_blvt", "token:ftx", "token:bybit", "perp:risk_pct=0.02",
            "perp:risk_pct=0.05", "perp_static:leverage=3", "spot"]  # fmt: skip


def study_doc(db: Path, quick: bool) -> dict[str, Any]:
    """The benchmark study as a config document."""
    windows: dict[str, Any] = {"length_days": 90, "step_days": 30, "from": "2019-09-01"}
    windows["to"] = "2020-09-01" if quick else "2026-05-31"
    return {
        "study": {
            "data": str(DATA),
            "db": str(db),
            "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
            "cells_per_task": 4,
        },  # fmt: skip
        "windows": windows,
        "strategies": [{"name": "hold", "params": {"direction": "long"}}, {"name": "sma_cross"}],
        "vehicles": [{"use": v} for v in VEHICLES],
        "presets": {"binance_blvt": {"target_leverage": 2.25}},
    }


def run_once(db: Path, workers: int, dask: bool, quick: bool) -> dict[str, Any]:
    """One study run into a fresh file: wall time, cells, steps, peak RSS per worker (MB)."""
    from loguru import logger

    from bot.study import market
    from bot.study.config import study_config_from
    from bot.study.runner import run_study_file

    logger.remove()
    config = study_config_from(study_doc(db, quick), ROOT)
    # Each run starts as `ltbot study run` in a fresh process does, with no market data
    # loaded: its wall time includes loading the data (in this process for 1 worker, each
    # worker its share on the pool and on Dask).
    market.clear_cache()
    cpu_before = _cpu()
    client = None
    if dask:
        from bot.study.dask_backend import connect

        client = connect("local", workers)  # starting the cluster is not timed
    started = time.perf_counter()
    cells = run_study_file(config, workers, client)
    wall = time.perf_counter() - started
    peak = _peak_mb(workers, client)
    if client is not None:
        from bot.study.dask_backend import disconnect

        disconnect(client)
    cpu = _cpu() - cpu_before
    with sqlite3.connect(db) as conn:
        steps = conn.execute("SELECT sum(portfolio_steps) FROM cells").fetchone()[0]
        dump = conn.execute("SELECT * FROM results ORDER BY cell_id, vehicle").fetchall()
    return {
        "wall": wall, "cpu": cpu, "cells": len(cells), "steps": steps, "peak_mb": peak,
        "dump": dump,
    }  # fmt: skip


def build() -> str:
    """Which build ran: plain Python, or the hot path compiled by `make compile`."""
    import bot.study.worker  # noqa: F401  (imports the hot path)
    from bot.native import HOT, compiled

    done = len(compiled())
    return f"compiled ({done} of {len(HOT)} hot modules, make compile)" if done else "plain Python"


def _cpu() -> float:
    # CPU seconds of this process and of its finished (waited-for) children: pool workers
    # and Dask worker processes once their pool or cluster is shut down.
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _peak_mb(workers: int, client: Any) -> float:
    # ru_maxrss is in KiB on Linux.
    if client is not None:
        rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return max(rss.values()) / 1024
    who = resource.RUSAGE_SELF if workers <= 1 else resource.RUSAGE_CHILDREN
    return resource.getrusage(who).ru_maxrss / 1024


LOAD: list[str] = []


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    """Parse --quick and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a one-year slice (32 cells)")
    report(parser.parse_args().quick)


def report(quick: bool = False) -> None:
    """Run the three configurations and print a Markdown table."""
    if not DATA.is_dir():
        print(f"study bench skipped: {DATA} not found", file=sys.stderr)
        return
    LOAD.append(_load())
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, workers, dask in (("1 local worker", 1, False), ("2 local workers", 2, False),
                                    ("Dask LocalCluster, 2 workers", 2, True)):  # fmt: skip
            runs[name] = run_once(Path(tmp) / f"{workers}{dask}.db", workers, dask, quick)
            r = runs[name]
            print(f"{name}: {r['cells']} cells, {r['wall']:.1f} s", file=sys.stderr)
    same = all(r["dump"] == runs["1 local worker"]["dump"] for r in runs.values())
    print(f"build: {build()}\n")
    print("| run | cells | portfolio-bar steps | wall | CPU | steps/s (wall) | steps per CPU s "
          "| peak RSS per worker |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        rate, per_cpu = r["steps"] / r["wall"], r["steps"] / r["cpu"]
        print(f"| {name} | {r['cells']} | {r['steps']:,} | {r['wall']:.1f} s | {r['cpu']:.1f} s "
              f"| {rate:,.0f} | {per_cpu:,.0f} | {r['peak_mb']:.0f} MB |")  # fmt: skip
    print(f"\nload average before and after: {LOAD[0]} / {_load()}")
    one, two = runs["1 local worker"]["wall"], runs["2 local workers"]["wall"]
    dask = runs["Dask LocalCluster, 2 workers"]["wall"]
    print(
        f"\nscaling efficiency 1 -> 2 local workers: {one / (2 * two):.2f}; "
        f"Dask / local pool wall: {dask / two:.2f}; results tables identical: {same}"
    )


if __name__ == "__main__":
    main()
