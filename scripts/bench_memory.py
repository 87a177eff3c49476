"""Memory benchmarks: RSS over a long accelerated run, and the ledger's growth per live day.

1. Accelerated run: the replay path (engine + session + SQLite file, NAV hourly, steps committed
   in groups of 500) over `steps` 5m steps of BTC. The recorded 2023-01..2024-05 bars are played
   forward, then backward (re-stamped forward in time, so prices stay continuous), and so on:
   one million steps are ~9.5 years of 5m bars. RSS (VmRSS of /proc/self/status) is sampled
   every 50,000 steps; growth is measured from the sample after warm-up.
2. Ledger growth per day of live polling: one simulated day of 15 s polls (5,760 steps) of the
   example config's symbols and portfolios into a fresh database; bytes per day from the file
   size (after a checkpoint), and row counts per table.
3. Tick retention: the same over several simulated days, with the daemon's retention job
   (`bot.runtime.retention_job.tick_retention_job`) run after each day: the file size per day with
   `[store] tick_retention_days` 0 (grows linearly) and 1 (levels off: freed pages are reused).

    .venv/bin/python scripts/bench_memory.py --only retention --days 5
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config.vehicles import DEFAULT_VEHICLES

DATA_5M = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_usdm" / "5m"
BTC = "BTC/USDT:USDT"
FUNDING = timedelta(hours=8)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rss_mb() -> float:
    """Resident set size of this process (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _next_settlement(t: datetime) -> datetime:
    seconds = int((t - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=(seconds // 28800 + 1) * 28800)


def mirrored_updates(steps: int) -> Iterator[Any]:
    """`steps` 5m updates of BTC: recorded bars forward, backward, forward, ..."""
    from bot.adapters.replay.feed import ReplayFeed
    from bot.domain.values import Candle, FundingRate, Quote
    from bot.engine.ports import MarketUpdate

    source = DATA_5M / "2023-01_2024-05"
    bars = [u.candles[0] for u in ReplayFeed.from_data_dir(source, symbols=[BTC])]
    step = timedelta(minutes=5)
    start = bars[0].at
    i = 0
    lap = 0
    while True:
        lap_bars = bars if lap % 2 == 0 else bars[::-1]
        for c in lap_bars:
            if i >= steps:
                return
            opened = start + i * step
            o, cl = (c.open, c.close) if lap % 2 == 0 else (c.close, c.open)
            candle = Candle(BTC, "5m", opened, o, c.high, c.low, cl, c.volume)
            t = opened + step
            rate = 0.0001
            quote = Quote(BTC, t, cl, cl, funding_rate=rate, next_funding_at=_next_settlement(t))
            settled = (
                (FundingRate(BTC, t, rate),) if (t - EPOCH).total_seconds() % 28800 == 0 else ()
            )
            yield MarketUpdate(t, (quote,), (candle,), settled)
            i += 1
        lap += 1


def _settings(db: Path, symbols: list[str], experiments: list[dict[str, Any]]) -> Any:
    from bot.config.settings import Settings

    return Settings.model_validate(
        {
            "exchange": {"symbols": symbols},
            "store": {"path": str(db)},
            "presets": {"binance_blvt": {"target_leverage": 2.25}},
            "experiments": experiments,
        }
    )


VEHICLES = list(DEFAULT_VEHICLES)


def accelerated_run(steps: int = 1_000_000, sample_every: int = 50_000) -> dict[str, Any]:
    """RSS samples over a `steps`-step replay-path run (sma_cross x 7 vehicles, file DB)."""
    from bot.runtime.log_setup import configure_logging
    from bot.runtime.session import Session
    from bot.runtime.wiring import build_engine, open_store

    configure_logging("WARNING", None)
    exp = {
        "name": "btc-sma",
        "symbol": BTC,
        "strategy": "sma_cross",
        "params": {"fast": 20, "slow": 50},
        "capital": 10_000,
        "vehicles": VEHICLES,
    }
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp) / "mem.db", [BTC], [exp])
        with open_store(settings) as store:
            session = Session(store, build_engine(settings, live=False), "replay", group=500)
            for n, update in enumerate(mirrored_updates(steps), start=1):
                session.process(update)
                if n % sample_every == 0:
                    samples.append((n, rss_mb()))
            session.flush()
        size = (Path(tmp) / "mem.db").stat().st_size
    warm = next(rss for n, rss in samples if n >= 2 * sample_every)
    return {
        "steps": steps,
        "rss_mb": samples,
        "rss_after_warmup_mb": warm,
        "rss_end_mb": samples[-1][1],
        "growth_after_warmup_pct": 100 * (samples[-1][1] / warm - 1),
        "db_mb": size / 1e6,
    }


def live_day(poll_seconds: int = 15) -> dict[str, Any]:
    """Ledger bytes written by one day of polls: example config (2 symbols, 28 portfolios)."""
    return ledger_days(1, 0, poll_seconds)


def ledger_days(days: int, retention_days: int, poll_seconds: int = 15) -> dict[str, Any]:
    """`days` simulated days of polls (example config) into a fresh database, with the
    daemon's tick retention job run at the end of every day as `ltbot run` runs it daily;
    the file size after each day (WAL checkpointed), rows and free pages at the end."""
    from bot.config.settings import load_settings
    from bot.domain.values import Quote
    from bot.engine.ports import MarketUpdate
    from bot.runtime.log_setup import configure_logging
    from bot.runtime.retention_job import tick_retention_job
    from bot.runtime.session import Session
    from bot.runtime.wiring import build_engine, open_store

    configure_logging("WARNING", None)
    example = load_settings(Path(__file__).resolve().parents[1] / "config.example.toml")
    polls = 86_400 // poll_seconds
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "day.db"
        store_settings = example.store.model_copy(
            update={"path": db, "tick_retention_days": retention_days}
        )
        settings = example.model_copy(update={"store": store_settings})
        start = datetime(2024, 3, 1, tzinfo=UTC)
        with open_store(settings) as store:
            engine = build_engine(settings)
            session = Session(store, engine, "live")
            for i in range(days * polls + 1):
                at = start + timedelta(seconds=poll_seconds * i)
                quotes = tuple(
                    Quote(s, at, p, p * 1.0001, p, p - 0.1, p + 0.1, 0.0001, _next_settlement(at))
                    for s, p in zip(settings.exchange.symbols, (60_000.0, 3_000.0), strict=False)
                )
                session.process(MarketUpdate(at, quotes))
                if i and i % polls == 0:
                    tick_retention_job(settings)  # the daemon's daily job (a no-op for 0)
                    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    sizes.append(db.stat().st_size)
        con = sqlite3.connect(db)
        counts = {
            t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("ticks", "nav", "candles", "fills", "fees", "engine_state")
        }
        state_bytes = con.execute("SELECT LENGTH(state) FROM engine_state").fetchone()[0]
        free_pages = con.execute("PRAGMA freelist_count").fetchone()[0]
        con.close()
    return {
        "poll_seconds": poll_seconds,
        "polls": polls,
        "days": days,
        "tick_retention_days": retention_days,
        "symbols": len(settings.exchange.symbols),
        "portfolios": sum(len(e.vehicles) for e in settings.experiments),
        "db_bytes_per_day": sizes[0],
        "db_bytes_after_day": sizes,
        "free_pages_end": free_pages,
        "rows": counts,
        "engine_state_bytes": state_bytes,
    }


def retention_table(days: int = 5, retentions: tuple[int, ...] = (0, 1)) -> str:
    """Markdown: the ledger's file size after each simulated day, per tick retention."""
    runs = [ledger_days(days, r) for r in retentions]
    lines = [
        "| tick_retention_days | "
        + " | ".join(f"day {d}" for d in range(1, days + 1))
        + " | ticks at the end |",
        "|---" * (days + 2) + "|",
    ]
    for run in runs:
        sizes = " | ".join(f"{b / 1e6:.2f} MB" for b in run["db_bytes_after_day"])
        lines.append(f"| {run['tick_retention_days']} | {sizes} | {run['rows']['ticks']:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["growth", "retention", "rss"],
        action="append",
        help="growth: one live day; retention: file size per day, retention 0 vs 1 day; "
        "rss: the 1,000,000-step run (default: all three)",
    )
    parser.add_argument("--days", type=int, default=5, help="simulated days for --only retention")
    args = parser.parse_args()
    wanted = set(args.only or ["growth", "retention", "rss"])
    if "growth" in wanted:
        print(json.dumps(live_day(), indent=1))
    if "retention" in wanted:
        print(retention_table(args.days))
    if "rss" in wanted:
        print(json.dumps(accelerated_run(), indent=1))


if __name__ == "__main__":
    main()
