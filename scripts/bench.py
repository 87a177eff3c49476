"""Benchmarks behind `make bench`; prints Markdown to paste into docs/PERFORMANCE.md.

Each timing is the median of at least 3 runs (wall and CPU of this process). Nothing asserts a
time: the numbers are read by people. Sections (all by default; `--only NAME` repeats one):

  replay-5m   `run_replay` (the code of `ltbot replay`) over BTC 5m 2023-01..2024-05 of
              ../shared/data, sma_cross x the 7 default vehicles, full SQLite ledger
  replay-1h   the same over BTC 1h, 2019-09..2026-05 (6.7 years)
  sample      the bundled sample with config.example.toml (4 experiments x 7 vehicles)
  freqtrade   freqtrade backtesting on the same 5m/1h files (scripts/bench_freqtrade.py)
  live        one poll of N symbols x 7 vehicles against the sim exchange (bench_live.py)
  memory      RSS over a 1,000,000-step run; ledger bytes per live day (bench_memory.py)
  store       store.write_steps, one transaction per step (the daemon's write path)
  study       `ltbot study` on 1 and 2 local workers and a Dask LocalCluster (bench_study.py),
              and where one cell's CPU time goes, layer by layer (profile_study.py)

Tests that need ../shared/data are skipped with a note when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bot.adapters.sqlite.store import Store  # noqa: E402
from bot.config.vehicles import DEFAULT_VEHICLES  # noqa: E402
from bot.domain.records import NavRecord  # noqa: E402
from bot.domain.values import Quote  # noqa: E402
from bot.engine.ports import PortfolioRow, PortfolioStep, StepBatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "binance_usdm"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
VEHICLES = list(DEFAULT_VEHICLES)


def median_seconds(run: Callable[[], None], repeats: int = 3) -> float:
    """Median wall time of `repeats` runs of `run`."""
    return timed(run, repeats)["wall"]


def timed(run: Callable[[], Any], repeats: int = 3) -> dict[str, Any]:
    """Median wall and CPU seconds of `repeats` runs, and every run's figures."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "walls": walls,
        "result": result,
    }


def machine() -> str:
    """One line: CPU model, cores, memory, Python, load average."""
    model = "cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    load = ", load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}{load}"
    )


# -- replay -----------------------------------------------------------------------------


def _replay_settings(db: Path) -> Any:
    from bot.config.settings import Settings

    return Settings.model_validate(
        {
            "exchange": {"symbols": ["BTC/USDT:USDT"]},
            "store": {"path": str(db)},
            "presets": {"binance_blvt": {"target_leverage": 2.25}},
            "experiments": [
                {
                    "name": "btc-sma",
                    "symbol": "BTC/USDT:USDT",
                    "strategy": "sma_cross",
                    "params": {"fast": 20, "slow": 50},
                    "capital": 10_000,
                    "vehicles": VEHICLES,
                }
            ],
        }
    )


def replay_once(data: Path, settings: Any) -> dict[str, Any]:
    """One replay as `ltbot replay` runs it (feed loading included); the ledger's size."""
    from bot.adapters.replay.feed import ReplayFeed
    from bot.runtime.replay_driver import run_replay

    feed = ReplayFeed.from_data_dir(data, symbols=settings.exchange.symbols)
    result = run_replay(settings, feed)
    db = Path(settings.store.path)
    portfolios = sum(len(e.vehicles) for e in settings.experiments)
    return {"steps": result.steps, "portfolios": portfolios, "db_mb": db.stat().st_size / 1e6}


def bench_replay(data: Path, repeats: int, settings_for: Callable[[Path], Any]) -> dict[str, Any]:
    """Median wall/CPU of a replay into a temporary ledger; steps and portfolio-bar steps/s."""
    from bot.runtime.log_setup import configure_logging

    configure_logging("WARNING", None)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp) / "replay.db")
        out = timed(lambda: replay_once(data, settings), repeats)
    result = out.pop("result")
    steps, portfolios = result["steps"], result["portfolios"]
    return {
        **out,
        **result,
        "steps_per_s": steps / out["wall"],
        "portfolio_steps_per_s": steps * portfolios / out["wall"],
    }


def _example_settings(db: Path) -> Any:
    from bot.config.settings import load_settings

    settings = load_settings(ROOT / "config.example.toml")
    return settings.model_copy(update={"store": settings.store.model_copy(update={"path": db})})


# -- store ------------------------------------------------------------------------------


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
                store.write_steps(
                    [
                        StepBatch(
                            quotes=[Quote("BTC/USDT:USDT", at, 100.0 + i)],
                            portfolios=[PortfolioStep(pid, nav=nav) for pid in ids],
                        )
                    ]
                )

    seconds = median_seconds(run)
    return seconds, f"{steps / seconds:,.0f} steps/s ({steps} steps x {portfolios} NAV rows)"


# -- report -----------------------------------------------------------------------------


def _row(name: str, r: dict[str, Any]) -> str:
    runs = ", ".join(f"{w:.2f}" for w in r["walls"])
    return (
        f"| {name} | {r['steps']:,} | {r['portfolios']} | {r['wall']:.2f} s ({runs}) | "
        f"{r['cpu']:.2f} s | {r['steps_per_s']:,.0f} | {r['portfolio_steps_per_s']:,.0f} | "
        f"{r['db_mb']:.0f} MB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only these sections")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    wanted = set(args.only or ["replay-5m", "replay-1h", "sample", "freqtrade", "live", "memory"])
    wanted |= {"store", "study"} if args.only is None else set()
    repeats = max(3, args.repeats)
    print(f"machine: {machine()}")
    print(
        f"commit: {_git('rev-parse', '--short', 'HEAD')}; started {datetime.now(UTC):%F %T} UTC\n"
    )
    have_data = DATA.exists()
    results: dict[str, Any] = {}
    header = (
        "| replay | steps | portfolios | wall, median (runs) | CPU | steps/s "
        "| portfolio-bar steps/s | ledger |\n|---|---|---|---|---|---|---|---|"
    )
    rows = []
    if "replay-5m" in wanted and have_data:
        r = bench_replay(DATA / "5m" / "2023-01_2024-05", repeats, _replay_settings)
        results["replay-5m"] = r
        rows.append(_row("BTC 5m 2023-01..2024-05, sma_cross x 7", r))
    if "replay-1h" in wanted and have_data:
        r = bench_replay(DATA / "1h", repeats, _replay_settings)
        results["replay-1h"] = r
        rows.append(_row("BTC 1h 2019-09..2026-05, sma_cross x 7", r))
    if "sample" in wanted:
        r = bench_replay(ROOT / "bot" / "data" / "sample", repeats, _example_settings)
        results["sample"] = r
        rows.append(_row("bundled sample, config.example.toml (4 x 7)", r))
    if rows:
        print(header)
        print("\n".join(rows))
        print()
    if not have_data:
        print(f"(no {DATA}: the real-data sections were skipped)\n")
    if "freqtrade" in wanted and have_data:
        _freqtrade(results, repeats)
    if "live" in wanted:
        _live(results, repeats)
    if "memory" in wanted and have_data:
        _memory(results)
    if "study" in wanted and have_data:
        import bench_study  # issue 19: one study on 1 and 2 local workers and on Dask
        import profile_study  # and where one cell's time goes

        bench_study.report()
        profile_study.report()
    if "store" in wanted:
        seconds, detail = bench_store_steps()
        print(f"| store write_steps (1 txn per step) | {seconds:.3f} s | {detail} |\n")
    out = ROOT / ".bench" / "last.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"raw results: {out.relative_to(ROOT)}")


def _freqtrade(results: dict[str, Any], repeats: int) -> None:
    import bench_freqtrade

    try:
        first, last = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 5, 15, tzinfo=UTC)
        ft = bench_freqtrade.backtest(first, last, repeats)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"freqtrade: not run ({exc})\n")
        return
    results["freqtrade"] = ft
    runs = ", ".join(f"{s:.2f}" for s in ft["seconds"])
    print(f"freqtrade: {ft['version']}")
    print(f"command: `{ft['command']}`")
    print(f"| freqtrade backtesting, 1 vehicle | {ft['median_seconds']:.2f} s ({runs}) |")
    ours = results.get("replay-5m")
    if ours:
        ratio = ft["median_seconds"] / ours["wall"]
        print(
            f"| ltbot replay, 7 vehicles | {ours['wall']:.2f} s | freqtrade / ltbot = {ratio:.2f} |"
        )
    print()


def _live(results: dict[str, Any], repeats: int) -> None:
    import bench_live

    print(
        "| live poll against the sim exchange | CPU per regular poll | CPU per bar-close poll "
        "| wall, median | requests per poll |\n|---|---|---|---|---|"
    )
    for count in (2, 20):
        r = bench_live.run_median(count, repeats)
        results[f"live-{count}"] = r
        print(bench_live.line(r))
    print(f"requests by path (20 symbols): {results['live-20']['paths']}\n")


def _memory(results: dict[str, Any]) -> None:
    import bench_memory

    day = bench_memory.live_day()
    results["live-day"] = day
    print(
        f"ledger per live day ({day['symbols']} symbols, {day['portfolios']} portfolios, "
        f"{day['poll_seconds']} s polls): {day['db_bytes_per_day'] / 1e6:.2f} MB; rows "
        f"{day['rows']}"
    )
    run = bench_memory.accelerated_run()
    results["memory"] = run
    print(
        f"RSS over {run['steps']:,} steps: after warm-up {run['rss_after_warmup_mb']:.0f} MB, "
        f"end {run['rss_end_mb']:.0f} MB ({run['growth_after_warmup_pct']:+.1f} %); "
        f"samples {[round(m) for _, m in run['rss_mb']]}\n"
    )


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
