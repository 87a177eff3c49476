"""`ltbot replay`: the same engine over a data directory or a recorded database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.adapters.replay.feather import DataFormatError
from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sqlite.store import Store, StoreError
from bot.cli.common import console, fail, load, setup_logging, with_database
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
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (default: config.toml).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), inclusive.")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Ledger to write (emptied first; default: replay.db beside store.path)."
        ),
    ] = None,
) -> None:
    """Replay history through the live engine as fast as it goes; print a comparison table."""
    settings = load(config)
    if not settings.experiments:
        raise fail("no [[experiments]] configured (start from config.example.toml)")
    settings = with_database(settings, db or settings.store.path.with_name("replay.db"))
    setup_logging(ctx, settings, file=False)
    first, last = _day(start, "--from"), _day(end, "--to")
    if first and last and last < first:
        raise fail(f"--to {end} is before --from {start}")
    try:
        feed = _open_feed(data, settings.exchange.symbols, first, last)
        try:
            with _progress() as progress:
                task = progress.add_task("replaying", total=None, at="")
                result = run_replay(settings, feed, lambda u: _tick(progress, task, u))
        finally:
            feed.close()
    except (ReplayError, DataFormatError, StoreError, StrategyLoadError) as exc:
        raise fail(str(exc)) from None
    if result.steps == 0:
        raise fail(f"{data}: no data for {', '.join(settings.exchange.symbols)} in that range")
    with Store(result.database) as store:
        print_comparison(store, console())
    typer.echo(
        f"{result.steps} steps from {result.first} to {result.last}; ledger: {result.database}"
    )
    typer.echo(fate_line(result.stats))


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


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.fields[at]}"),
        TextColumn("{task.completed:,.0f} steps"),
        TimeElapsedColumn(),
        transient=True,
    )


def _tick(progress: Progress, task: int, update: MarketUpdate) -> None:
    progress.update(task, advance=1, at=update.at.strftime("%Y-%m-%d %H:%M"))  # type: ignore[arg-type]
