"""`ltbot download`: OHLCV, mark-price OHLCV and funding history into freqtrade's layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.ccxt.history import DownloadJob, JobResult, download, plan
from bot.cli.common import QuietOption, VerboseOption, setup_console
from bot.engine.ports import FeedError
from bot.runtime.clock import SystemClock


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def parse_since(text: str) -> datetime:
    """A UTC date or datetime (`2024-01-01`, `2024-01-01T12:00`, with or without `Z`)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (expected e.g. 2024-01-01)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_symbols(values: list[str]) -> list[str]:
    """Symbols from repeated and/or comma-separated values; `BTC/USDT` means the linear
    perpetual `BTC/USDT:USDT`."""
    symbols: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if "/" not in item:
                raise ValueError(f"symbol {item!r}: expected a ccxt symbol like BTC/USDT:USDT")
            if ":" not in item:
                item = f"{item}:{item.split('/')[1]}"
            if item not in symbols:
                symbols.append(item)
    if not symbols:
        raise ValueError("no symbols given")
    return symbols


def download_command(
    ctx: typer.Context,
    symbols: Annotated[
        list[str],
        typer.Option(
            "--symbols",
            "-s",
            help="ccxt symbols, e.g. BTC/USDT:USDT (repeat the option or separate by commas).",
        ),
    ],
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Candle timeframe, e.g. 1m, 5m, 1h.")
    ],
    since: Annotated[
        str, typer.Option("--since", help="Start (UTC), e.g. 2024-01-01 or 2024-01-01T12:00.")
    ],
    exchange: Annotated[
        str, typer.Option("--exchange", help="ccxt exchange id: binanceusdm, bybit or okx.")
    ] = "binanceusdm",
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Data directory; files go to <out>/<exchange>/futures/ as freqtrade names them "
            "(binanceusdm: <out>/binance/futures/).",
        ),
    ] = Path("user_data/data"),
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="Base URL override, e.g. a sim exchange on loopback."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="End (UTC), default the exchange's now; only closed candles."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1500, help="Rows per request (page size).")
    ] = 1000,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Download candles, mark-price candles and funding history; resumable (only missing
    ranges are fetched), written atomically in freqtrade's feather layout. Only candles
    closed by the exchange's clock are written; times are UTC, by the exchange's clock."""
    setup_console(ctx, quiet, verbose)
    try:
        wanted = parse_symbols(symbols)
        start = parse_since(since)
        asked = None if until is None else parse_since(until)
        if asked is not None and start >= asked:
            raise ValueError(f"--since {start:%Y-%m-%d %H:%M} is not before --until {until}")
        jobs = plan(wanted, timeframe, out, exchange)
        # The wall clock only paces retries; what has closed is the exchange's to say.
        feed = CcxtFeed(wanted, exchange, clock=SystemClock(), timeframes=[], api_url=api_url)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        feed.connect(max_attempts=3)
        now = feed.server_time()
        end = now if asked is None else min(asked, now)
        if start >= end:
            raise ValueError(
                f"--since {start:%Y-%m-%d %H:%M} is not before the exchange's time "
                f"{end:%Y-%m-%d %H:%M} UTC"
            )
        typer.echo(f"{exchange} clock: {now:%Y-%m-%d %H:%M:%S} UTC; closed candles up to it")
        results = _run(feed, jobs, start, end, limit, now)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except FeedError as exc:
        typer.echo(f"error: {exc} (files keep what was downloaded; run again to resume)", err=True)
        raise typer.Exit(1) from None
    finally:
        feed.close()
    for r in results:
        typer.echo(summary_line(r))


def summary_line(result: JobResult) -> str:
    """`BTC/USDT:USDT 5m futures: 576 rows (+576), 2024-03-01 00:00..2024-03-03 00:00 UTC,
    3 requests -> path`: the rows the file holds, the range they cover (open of the first
    row to close of the last, exchange time) and what this run fetched."""
    frame_range = result.covered
    span = (
        f"{frame_range[0]:%Y-%m-%d %H:%M}..{frame_range[1]:%Y-%m-%d %H:%M} UTC"
        if frame_range is not None
        else "no rows"
    )
    return (
        f"{result.job.label}: {result.rows} rows (+{result.added}), {span}, "
        f"{result.requests} request{'' if result.requests == 1 else 's'} -> {result.job.path}"
    )


def _run(
    feed: CcxtFeed,
    jobs: list[DownloadJob],
    start: datetime,
    end: datetime,
    limit: int,
    now: datetime,
) -> list[JobResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),  # the percentage of the rows the time range holds
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[DownloadJob, TaskID] = {
            job: bar.add_task(job.label, total=None, rate="") for job in jobs
        }

        def advance(job: DownloadJob, done: int, expected: int) -> None:
            speed = next(t.speed for t in bar.tasks if t.id == tasks[job])  # rows per second
            rate = "" if speed is None else f"{speed:,.0f} rows/s"
            bar.update(tasks[job], completed=done, total=expected, rate=rate)

        results = download(feed, jobs, start, end, limit, advance, now)
        for result in results:
            task = tasks[result.job]
            bar.update(task, total=max(result.fetched, 1), completed=max(result.fetched, 1))
        return results
