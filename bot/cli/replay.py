"""`ltbot replay`: the same engine over a data directory or a recorded database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bot.adapters.replay.feather import DataFormatError
from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sqlite.store import Store, StoreError
from bot.cli.common import (
    ConfigOption,
    QuietOption,
    StrategyPathOption,
    VerboseOption,
    console,
    fail,
    load,
    setup_logging,
    with_database,
)
from bot.config.settings import ConfigError
from bot.config.strategy_loader import StrategyLoadError
from bot.engine.ports import MarketUpdate
from bot.reports.comparison import print_comparison
from bot.runtime.replay_driver import ReplayError, run_replay
from bot.runtime.session import fate_line


def replay_command(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Data directory (freqtrade feather or CSV layout) or a recorded ltbot database.",
        ),
    ],
    config: ConfigOption = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), inclusive.")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="Ledger to write (emptied first; default: replay.db beside store.path); "
            "its log file goes beside it.",
        ),
    ] = None,
    strategy_path: StrategyPathOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Replay history through the live engine as fast as it goes; print a comparison table."""
    settings = load(config, strategy_path)
    if not settings.experiments:
        raise fail("no [[experiments]] configured (start from config.example.toml)")
    settings = with_database(settings, db or settings.store.path.with_name("replay.db"))
    first, last = _day(start, "--from"), _day(end, "--to")
    if first and last and last < first:
        raise fail(f"--to {end} is before --from {start}")
    # The bar shows the progress; opens and closes go to the log file beside the ledger.
    setup_logging(ctx, settings, quiet=quiet, verbose=verbose, trades=False)
    try:
        feed = _open_feed(data, settings.exchange.symbols, first, last)
        try:
            with ReplayProgress(feed.span) as progress:
                result = run_replay(settings, feed, progress.advance)
        finally:
            feed.close()
    except (ReplayError, DataFormatError, StoreError, StrategyLoadError, ConfigError) as exc:
        raise fail(str(exc)) from None
    if result.steps == 0:
        raise fail(f"{data}: no data for {', '.join(settings.exchange.symbols)} in that range")
    with Store(result.database) as store:
        print_comparison(store, console())
    typer.echo(
        f"{result.steps} steps from {result.first} to {result.last}; ledger: {result.database}"
    )
    typer.echo(fate_line(result.stats))
    if result.screened != "screened: nothing":
        typer.echo(result.screened)  # bad data refused before the engine (docs/RELIABILITY.md)


def _open_feed(
    data: Path, symbols: list[str], first: dt.datetime | None, last: dt.datetime | None
) -> ReplayFeed:
    end = last + dt.timedelta(days=1) if last is not None else None
    if data.is_dir():
        return ReplayFeed.from_data_dir(data, symbols=symbols, start=first, end=end)
    if data.is_file():
        return ReplayFeed.from_database(data, symbols=symbols, start=first, end=end)
    raise DataFormatError(f"{data}: no such data directory or database")


def _day(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: expected YYYY-MM-DD, got {text!r}") from None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


class ReplayProgress:
    """A progress bar on stderr over the replay's time range: percentage, simulated days per
    second, time left and the time reached. Log lines print above it (the console sink writes
    to the stderr the bar redirects); it is not drawn when stderr is not a terminal."""

    def __init__(self, span: tuple[dt.datetime, dt.datetime] | None) -> None:
        self.span = span
        term = Console(stderr=True)
        self.bar = Progress(
            TextColumn("replay"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[at]}"),
            console=term,
            transient=True,
            disable=not term.is_terminal,  # a pipe or a file gets no bar (and no blank line)
        )
        total = None if span is None else max((span[1] - span[0]).total_seconds(), 1.0)
        self.task = self.bar.add_task("replay", total=total, at="", rate="")
        # At most ~1000 redraws: rich's speed sums its samples on every update, which cost a
        # third of a 5m replay's time when called every step.
        self.step = 0.0 if total is None else total / 1000
        self.shown = -self.step

    def __enter__(self) -> ReplayProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def advance(self, update: MarketUpdate) -> None:
        """Move the bar to `update`'s time."""
        if self.bar.disable:
            return  # no terminal, no bar
        done = 0.0 if self.span is None else (update.at - self.span[0]).total_seconds()
        if done - self.shown < self.step:
            return
        self.shown = done
        speed = self.bar.tasks[0].speed  # simulated seconds per wall second, once measured
        rate = "" if speed is None else f"{speed / 86_400:,.1f} days/s"
        self.bar.update(self.task, completed=done, at=f"{update.at:%Y-%m-%d %H:%M}", rate=rate)
