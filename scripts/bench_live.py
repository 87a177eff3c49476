"""Live cycle benchmark: CPU of one poll + engine step + ledger write, N symbols x 7 vehicles.

The sim exchange runs in a child process (its CPU is not ours) on a frozen clock that this
script moves by `poll_seconds` before each poll, in windows around hourly bar closes, so every
poll sees new prices and the poll on the hour newly closed 1h candles. The client is the daemon's
own stack: `CcxtFeed` through real ccxt on loopback, `build_engine`, `Session`, the SQLite store
and the daemon's GC freeze after start-up. CPU is `time.process_time()` of this process only
(waiting on the socket costs none); requests are counted by the sim. Regular polls and polls
that close a bar are reported separately.

    .venv/bin/python scripts/bench_live.py --repeats 3            # 2 and 20 symbols
    .venv/bin/python scripts/bench_live.py --symbols 20 --profile # + cProfile of bar closes

The bundled sample has only BTC and ETH, so the N symbols are real Binance USDⓈ-M perpetuals
(from the recorded 2025-12-24 exchangeInfo) whose candles are copies of the BTC and ETH sample:
right for CPU and request counts, meaningless as markets.
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config.vehicles import DEFAULT_VEHICLES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "bot" / "data" / "sample"
VEHICLES = list(DEFAULT_VEHICLES)


def _symbols(count: int) -> list[str]:
    info = json.loads(
        (SHARED / "exchange_info" / "binance_fapi_exchangeInfo_2025-12-24.json").read_text()
    )
    ids = [
        s["symbol"]
        for s in info["symbols"]
        if s.get("contractType") == "PERPETUAL"
        and s.get("quoteAsset") == "USDT"
        and s.get("status") == "TRADING"
    ]
    return ids[:count]


def make_data_dir(root: Path, count: int) -> list[str]:
    """A sim data directory with `count` symbols, each a copy of the BTC or ETH sample."""
    ids = _symbols(count)
    for i, exchange_id in enumerate(ids):
        base = exchange_id.removesuffix("USDT")
        source = "BTC" if i % 2 == 0 else "ETH"
        for f in SAMPLE.glob(f"{source}_USDT_USDT-*.feather"):
            target = root / f.name.replace(f"{source}_USDT_USDT", f"{base}_USDT_USDT")
            target.symlink_to(f)
    info = SHARED / "exchange_info" / "binance_fapi_exchangeInfo_2025-12-24.json"
    (root / "binance_fapi_exchangeInfo.json").symlink_to(info)
    return [f"{i.removesuffix('USDT')}/USDT:USDT" for i in ids]


def _serve(data_dir: str, conn: Any) -> None:
    from bot.adapters.sim.exchange import SimExchange
    from bot.runtime.log_setup import configure_logging

    configure_logging("WARNING", None)
    sim = SimExchange(Path(data_dir), speed=0)
    sim.start()
    conn.send((sim.url, sim.now()))
    while True:
        command, argument = conn.recv()
        if command == "set":
            sim.set_time(argument)
            conn.send(len(sim.requests))
        elif command == "paths":
            conn.send(Counter(r.path for r in sim.requests))
        else:
            sim.stop()
            conn.send(None)
            return


def _stats(values: list[float]) -> dict[str, float]:
    ms = sorted(1000 * v for v in values)
    if not ms:
        return {"n": 0, "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "n": len(ms),
        "median": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "max": ms[-1],
    }


def run(
    symbols_count: int = 20,
    hours: int = 9,
    window_polls: int = 40,
    poll_seconds: int = 15,
    budget: int | None = None,
    profile: Any = None,
    listed: int | None = None,
) -> dict[str, Any]:
    """Poll around `hours` hourly bar closes; CPU per poll (ms) and requests per poll, for
    regular polls and for polls that close a bar separately.

    Each hour is a window of `window_polls` polls `poll_seconds` apart, the bar close in its
    middle; the clock then jumps to the next window (the daemon's state goes on as if it had
    polled in between, only fewer regular polls are measured). The first window (warm-up
    candles, strategies filling their history, first NAV rows) is not counted. `budget` sets
    `[exchange] history_requests_per_poll` (default: the config default); `profile` (e.g. a
    cProfile.Profile) is enabled around the counted bar-close polls. `listed`: the sim lists
    this many symbols (the first `symbols_count` are polled), as a real exchange lists hundreds.
    """
    from bot.adapters.ccxt.feed import CcxtFeed
    from bot.adapters.ccxt.tiers import tiers_for
    from bot.config.settings import Settings
    from bot.runtime.clock import FakeClock
    from bot.runtime.daemon import freeze_startup_objects
    from bot.runtime.log_setup import configure_logging
    from bot.runtime.session import Session
    from bot.runtime.wiring import build_engine, open_store

    configure_logging("WARNING", None)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        symbols = make_data_dir(data, max(symbols_count, listed or 0))[:symbols_count]
        parent, child = mp.Pipe()
        server = mp.get_context("spawn").Process(target=_serve, args=(str(data), child))
        server.start()
        try:
            url, start = parent.recv()
            # 3 days in, so the warm-up candles exist; windows close 01:00 .. 09:00 (08:00 is
            # a funding settlement).
            start = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)
            exchange: dict[str, Any] = {
                "symbols": symbols,
                "api_url": url,
                "poll_seconds": poll_seconds,
            }
            if budget is not None:
                exchange["history_requests_per_poll"] = budget
            settings = Settings.model_validate(
                {
                    "exchange": exchange,
                    "store": {"path": str(Path(tmp) / "live.db")},
                    "experiments": [
                        {
                            "name": f"x{i}",
                            "symbol": s,
                            "strategy": "sma_cross",
                            "params": {"fast": 20, "slow": 50},
                            "capital": 10_000,
                            "vehicles": VEHICLES,
                        }
                        for i, s in enumerate(symbols)
                    ],
                }
            )
            first = start + timedelta(hours=1) - window_polls // 2 * timedelta(seconds=poll_seconds)
            clock = FakeClock(first)
            feed = CcxtFeed.from_settings(
                settings.exchange, timeframes=["1h"], clock=clock, rate_limit=False, warmup_bars=60
            )
            parent.send(("set", first))
            parent.recv()
            feed.connect()
            store = open_store(settings)
            # Only BTC and ETH tiers are bundled: every copy uses the BTC ones.
            btc = tiers_for("BTC/USDT:USDT", None)
            tiers = {s: btc for s in symbols}
            engine = build_engine(settings, markets=feed.markets, live_tiers=tiers)
            session = Session(store, engine, "live")
            freeze_startup_objects()  # as the daemon does after start-up
            regular: list[float] = []
            closing: list[float] = []
            wall: list[float] = []
            requests_regular: list[int] = []
            requests_closing: list[int] = []
            gc_before = sum(s["collections"] for s in gc.get_stats())
            at = first
            for hour in range(1, hours + 1):
                close = start + timedelta(hours=hour)
                window = close - window_polls // 2 * timedelta(seconds=poll_seconds)
                for i in range(window_polls):
                    at = window + i * timedelta(seconds=poll_seconds)
                    clock.set(at)
                    parent.send(("set", at))
                    before = parent.recv()
                    closes = at == close
                    profiling = profile is not None and closes and hour > 1
                    if profiling:
                        profile.enable()
                    c0, w0 = time.process_time(), time.perf_counter()
                    session.process(feed.poll(at))
                    cpu = time.process_time() - c0
                    if profiling:
                        profile.disable()
                    parent.send(("set", at))
                    count = parent.recv() - before
                    if hour == 1:
                        continue  # warm-up window
                    wall.append(time.perf_counter() - w0)
                    (closing if closes else regular).append(cpu)
                    (requests_closing if closes else requests_regular).append(count)
            gc_collections = sum(s["collections"] for s in gc.get_stats()) - gc_before
            parent.send(("paths", None))
            paths = parent.recv()
            gc.unfreeze()
            store.close()
            feed.close()
        finally:
            parent.send(("stop", None))
            parent.recv()
            server.join(10)
    every = regular + closing
    return {
        "symbols": symbols_count,
        "listed": max(symbols_count, listed or 0),
        "portfolios": symbols_count * len(VEHICLES),
        "polls": len(every),
        "budget": feed.history_budget,
        "cpu_ms": _stats(every),
        "cpu_ms_regular": _stats(regular),
        "cpu_ms_bar_close": _stats(closing),
        # back compatible keys (scripts/bench.py)
        "cpu_ms_median": _stats(every)["median"],
        "cpu_ms_p95": _stats(every)["p95"],
        "cpu_ms_max": _stats(every)["max"],
        "wall_ms_median": 1000 * statistics.median(wall),
        "requests_regular": sorted(set(requests_regular)),
        "requests_bar_close": sorted(set(requests_closing)),
        "requests_min": min(requests_regular + requests_closing),
        "requests_max": max(requests_regular + requests_closing),
        "requests_median": statistics.median(requests_regular + requests_closing),
        "gc_collections": gc_collections,
        "paths": dict(paths),
        "at_end": at.isoformat(),
    }


def run_median(symbols_count: int, repeats: int = 3, **kwargs: Any) -> dict[str, Any]:
    """`run` `repeats` times; each statistic is the median over the runs (runs kept)."""
    runs = [run(symbols_count, **kwargs) for _ in range(repeats)]
    out = dict(runs[-1])
    for key in ("cpu_ms", "cpu_ms_regular", "cpu_ms_bar_close"):
        out[key] = {k: statistics.median(r[key][k] for r in runs) for k in runs[0][key]}
    for key in ("cpu_ms_median", "cpu_ms_p95", "cpu_ms_max", "wall_ms_median"):
        out[key] = statistics.median(r[key] for r in runs)
    for key in ("requests_regular", "requests_bar_close"):
        out[key] = sorted({n for r in runs for n in r[key]})
    out["runs"] = [
        {k: r[k] for k in ("cpu_ms_regular", "cpu_ms_bar_close", "wall_ms_median")} for r in runs
    ]
    return out


def line(r: dict[str, Any]) -> str:
    """One Markdown table row of a `run`/`run_median` result."""
    reg, close = r["cpu_ms_regular"], r["cpu_ms_bar_close"]
    return (
        f"| {r['symbols']} symbols x 7 vehicles ({r['portfolios']} portfolios"
        f"{'' if r['listed'] == r['symbols'] else ', of ' + str(r['listed']) + ' listed'}), budget "
        f"{r['budget']} | regular: median {reg['median']:.1f} ms, p95 {reg['p95']:.1f}, max "
        f"{reg['max']:.1f} | bar close: median {close['median']:.1f} ms, p95 {close['p95']:.1f},"
        f" max {close['max']:.1f} | {r['wall_ms_median']:.1f} ms | regular "
        f"{'/'.join(map(str, r['requests_regular']))}, bar close "
        f"{'/'.join(map(str, r['requests_bar_close']))} |"
    )


def main() -> None:
    import argparse
    import cProfile
    import pstats

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, action="append", help="default: 2 and 20")
    parser.add_argument("--hours", type=int, default=9)
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--listed", type=int, default=None, help="symbols the sim lists")
    parser.add_argument("--profile", action="store_true", help="cProfile the bar-close polls")
    parser.add_argument("--repeats", type=int, default=1, help="median of this many runs")
    parser.add_argument("--json", action="store_true", help="the whole result as JSON")
    args = parser.parse_args()
    for count in args.symbols or [2, 20]:
        profile = cProfile.Profile(time.process_time) if args.profile else None
        kwargs: dict[str, Any] = {"hours": args.hours, "budget": args.budget, "profile": profile}
        kwargs["listed"] = args.listed
        result = run_median(count, args.repeats, **kwargs)
        print(json.dumps(result, indent=1) if args.json else line(result))
        if profile is not None:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
