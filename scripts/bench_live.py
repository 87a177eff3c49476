"""Live cycle benchmark: CPU of one poll + engine step + ledger write, N symbols x 7 vehicles.

The sim exchange runs in a child process (its CPU is not ours) on a frozen clock that this
script moves by `poll_seconds` before each poll, so every poll sees new prices and, on the hour,
newly closed 1h candles. The client is the daemon's own stack: `CcxtFeed` through real ccxt on
loopback, `build_engine`, `Session` and the SQLite store. CPU is `time.process_time()` of this
process only (waiting on the socket costs none); requests are counted by the sim.

The bundled sample has only BTC and ETH, so the N symbols are real Binance USDⓈ-M perpetuals
(from the recorded 2025-12-24 exchangeInfo) whose candles are copies of the BTC and ETH sample:
right for CPU and request counts, meaningless as markets.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "bot" / "data" / "sample"
VEHICLES = [
    "token:binance_blvt",
    "token:ftx",
    "token:bybit",
    "perp:risk_pct=0.02",
    "perp:risk_pct=0.05",
    "perp_static:leverage=3",
    "spot",
]


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
    from bot.adapters.sim_exchange import SimExchange
    from bot.logging import configure_logging

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


def run(symbols_count: int = 20, polls: int = 480, poll_seconds: int = 15) -> dict[str, Any]:
    """Poll `polls` times; return CPU per poll (ms) and requests per poll."""
    from bot.adapters.ccxt_feed import CcxtFeed
    from bot.app import build_engine, open_store
    from bot.clock import FakeClock
    from bot.logging import configure_logging
    from bot.session import Session
    from bot.settings import Settings
    from bot.tiers import tiers_for

    configure_logging("WARNING", None)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        symbols = make_data_dir(data, symbols_count)
        parent, child = mp.Pipe()
        server = mp.get_context("spawn").Process(target=_serve, args=(str(data), child))
        server.start()
        try:
            url, start = parent.recv()
            start = start.replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
            settings = Settings.model_validate(
                {
                    "exchange": {"symbols": symbols, "api_url": url, "poll_seconds": poll_seconds},
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
            clock = FakeClock(start)
            feed = CcxtFeed.from_settings(
                settings.exchange, timeframes=["1h"], clock=clock, rate_limit=False, warmup_bars=60
            )
            parent.send(("set", start))
            parent.recv()
            feed.connect()
            store = open_store(settings)
            # Only BTC and ETH tiers are bundled: every copy uses the BTC ones.
            btc = tiers_for("BTC/USDT:USDT", None)
            tiers = {s: btc for s in symbols}
            engine = build_engine(settings, markets=feed.exchange.markets, live_tiers=tiers)
            session = Session(store, engine, "live")
            cpu: list[float] = []
            wall: list[float] = []
            requests: list[int] = []
            at = start
            before = 0
            for _ in range(polls):
                at = at + timedelta(seconds=poll_seconds)
                clock.set(at)
                parent.send(("set", at))
                before = parent.recv()
                c0, w0 = time.process_time(), time.perf_counter()
                session.process(feed.poll(at))
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                parent.send(("set", at))
                after = parent.recv()
                requests.append(after - before)
            parent.send(("paths", None))
            paths = parent.recv()
            store.close()
            feed.close()
        finally:
            parent.send(("stop", None))
            parent.recv()
            server.join(10)
    warm = cpu[60:]  # the first polls fetch warm-up candles and fill the strategies' history
    steady = [c for c, r in zip(cpu[60:], requests[60:], strict=True) if r == min(requests)]
    return {
        "symbols": symbols_count,
        "portfolios": symbols_count * len(VEHICLES),
        "polls": polls,
        "cpu_ms_median": 1000 * statistics.median(warm),
        "cpu_ms_p95": 1000 * sorted(warm)[int(0.95 * len(warm))],
        "cpu_ms_max": 1000 * max(warm),
        "cpu_ms_steady_median": 1000 * statistics.median(steady) if steady else float("nan"),
        "wall_ms_median": 1000 * statistics.median(wall[60:]),
        "requests_min": min(requests[1:]),
        "requests_max": max(requests[1:]),
        "requests_median": statistics.median(requests[1:]),
        "paths": dict(paths),
        "at_end": at.isoformat(),
    }


def main() -> None:
    for count in (2, 20):
        print(json.dumps(run(count), indent=1, default=str))


if __name__ == "__main__":
    main()
