"""`ltbot replay`: the live engine over recorded history, as fast as it goes.

Deterministic: the same data and config give a byte-identical ledger (the `runs` row is
stamped with the data's first and last times, not the wall clock). The run row is written
before the first step and its `covered_to` moves with each committed group; `ended_at` is
stamped only once the feed is exhausted, so a replay killed mid-way (SIGKILL, Ctrl-C, an error)
is marked partial and says which range it covers (bot/reports/coverage.py). Every update passes the
candle screen the daemon uses (`bot.engine.candle_screen`) before the engine, without its jump
bound: a malformed candle (a price not a finite number > 0, inconsistent OHLC) is held back
and then dropped instead of stopping the replay mid-step. Steps are committed in groups for
speed; the resume state is written with each group.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loguru import logger

from bot import __version__
from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sqlite.store import Store, StoreError
from bot.config.settings import Settings, redacted_config
from bot.engine.candle_screen import CandleScreen
from bot.engine.ports import MarketUpdate
from bot.runtime.session import Session, SessionStats
from bot.runtime.wiring import build_engine, open_store

REPLAY_KEY = "replay"
GROUP_STEPS = 500


class ReplayError(ValueError):
    """Bad replay input (a user error: exit code 2)."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did."""

    database: Path
    steps: int
    first: datetime | None
    last: datetime | None
    stats: SessionStats
    screened: str = "screened: nothing"  # what the candle and funding screens refused


def prepare_database(path: Path) -> None:
    """Start from an empty ledger; refuse to wipe one that holds live or demo runs."""
    if not path.exists():
        return
    try:
        with Store(path) as store:
            modes = {row["mode"] for row in store.rows("runs")}
    except StoreError as exc:
        raise ReplayError(str(exc)) from None
    if modes - {"replay"}:
        raise ReplayError(
            f"{path}: holds {', '.join(sorted(modes - {'replay'}))} runs; "
            "replay into another --db (a replay database is overwritten)"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_replay(
    settings: Settings,
    feed: ReplayFeed,
    on_step: Callable[[MarketUpdate], None] | None = None,
) -> ReplayResult:
    """Replay `feed` through the engine into `settings.store.path` (emptied first);
    `on_step` gets each update as the engine got it (after the candle screen)."""
    path = settings.store.path
    prepare_database(path)
    with open_store(settings) as store:
        # The replay database is emptied and rebuilt on every run: no fsync per group.
        store.use_scratch_mode()
        engine = build_engine(settings, live=False)
        for slot in engine.experiments:  # a recorded session's warm-up bars (bot.runtime.warmup)
            series = (slot.symbol, slot.aggregator.timeframe)
            engine.replay_history(
                slot.name, [c for c in feed.history if (c.symbol, c.timeframe) == series]
            )
        session = Session(store, engine, REPLAY_KEY, group=GROUP_STEPS)
        config = redacted_config(settings)  # secrets masked (issue 15 point 7)

        def start_run(first: datetime) -> int:
            return store.start_run(first, "replay", settings.exchange.id, config, __version__)

        # What exists now (loaded history, settings, modules) lives until the end: keep it out
        # of the cyclic collector's full passes, which a long replay triggers again and again.
        gc.freeze()
        try:
            # No jump bound in replay (assumption): recorded history's moves happened, wicks
            # included (Binance ETH perp 2020-03-13 02:00 traded up to 323 from 95.73), while a
            # live poll's absurd candle may be a glitch that the next poll corrects.
            screen = CandleScreen(None)
            run_id, first, last = _drive(session, feed, screen, on_step, start_run)
        finally:
            gc.unfreeze()
        session.flush()
        if run_id is not None and last is not None:
            # The feed is exhausted: only now is the run complete.
            store.end_run(run_id, last)
        stats = session.stats
        return ReplayResult(path, stats.steps, first, last, stats, screen.summary())


def _drive(
    session: Session,
    updates: Iterable[MarketUpdate],
    screen: CandleScreen,
    on_step: Callable[[MarketUpdate], None] | None,
    start_run: Callable[[datetime], int],
) -> tuple[int | None, datetime | None, datetime | None]:
    run_id = first = last = None
    for update in updates:
        update = screen.screen(update, session.engine.last_quotes)
        if run_id is None:
            # Before the first step: every committed group then moves the run's covered_to.
            run_id = start_run(update.at)
        session.process(update)
        first = first or update.at
        last = update.at
        if on_step is not None:
            on_step(update)
    if screen.pending:
        logger.warning(
            "{} candles still held back at the end of the data: not replayed", len(screen.pending)
        )
    return run_id, first, last
