"""Memory benchmarks: RSS over a long accelerated run, and the ledger's growth per live day.

1. Accelerated run: the replay path (engine + session + SQLite file, NAV hourly, steps committed
   in groups of 500) over `steps` 5m steps of BTC. The recorded 2023-01..2024-05 bars are played
   forward, then backward (re-stamped forward in time, so prices stay continuous), and so on:
   one million steps are ~9.5 years of 5m bars. RSS (VmRSS of /proc/self/status) is sampled
   every 50,000 steps; growth is measured from the sample after warm-up.
2. Ledger growth per day of live polling: one simulated day of 15 s polls (5,760 steps) of the
   example config's symbols and portfolios into a fresh database; bytes per day from the file
   size (after a checkpoint), and row counts per table.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    from bot.adapters.replay_feed import ReplayFeed
    from bot.domain.values import Candle, FundingRate, Quote
    from bot.ports import MarketUpdate

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
    from bot.settings import Settings

    return Settings.model_validate(
        {
            "exchange": {"symbols": symbols},
            "store": {"path": str(db)},
            "presets": {"binance_blvt": {"target_leverage": 2.25}},
            "experiments": experiments,
        }
    )


VEHICLES = [
    "token:binance_blvt",
    "token:ftx",
    "token:bybit",
    "perp:risk_pct=0.02",
    "perp:risk_pct=0.05",
    "perp_static:leverage=3",
    "spot",
]


def accelerated_run(steps: int = 1_000_000, sample_every: int = 50_000) -> dict[str, Any]:
    """RSS samples over a `steps`-step replay-path run (sma_cross x 7 vehicles, file DB)."""
    from bot.app import build_engine, open_store
    from bot.logging import configure_logging
    from bot.session import Session

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
    from bot.app import build_engine, open_store
    from bot.domain.values import Quote
    from bot.logging import configure_logging
    from bot.ports import MarketUpdate
    from bot.session import Session
    from bot.settings import load_settings

    configure_logging("WARNING", None)
    example = load_settings(Path(__file__).resolve().parents[1] / "config.example.toml")
    polls = 86_400 // poll_seconds
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "day.db"
        settings = example.model_copy(
            update={"store": example.store.model_copy(update={"path": db})}
        )
        start = datetime(2024, 3, 1, tzinfo=UTC)
        with open_store(settings) as store:
            engine = build_engine(settings)
            session = Session(store, engine, "live")
            for i in range(polls + 1):
                at = start + timedelta(seconds=poll_seconds * i)
                quotes = tuple(
                    Quote(s, at, p, p * 1.0001, p, p - 0.1, p + 0.1, 0.0001, _next_settlement(at))
                    for s, p in zip(settings.exchange.symbols, (60_000.0, 3_000.0), strict=False)
                )
                session.process(MarketUpdate(at, quotes))
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.stat().st_size
        con = sqlite3.connect(db)
        counts = {
            t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("ticks", "nav", "candles", "fills", "fees", "engine_state")
        }
        state_bytes = con.execute("SELECT LENGTH(state) FROM engine_state").fetchone()[0]
        con.close()
    return {
        "poll_seconds": poll_seconds,
        "polls": polls,
        "symbols": len(settings.exchange.symbols),
        "portfolios": sum(len(e.vehicles) for e in settings.experiments),
        "db_bytes_per_day": size,
        "rows": counts,
        "engine_state_bytes": state_bytes,
    }


def main() -> None:
    print(json.dumps(live_day(), indent=1))
    print(json.dumps(accelerated_run(), indent=1))


if __name__ == "__main__":
    main()
