"""`ltbot report`: the daily summary of a day or a range of days, on demand.

Like the daily job, it writes `<report.out_dir>/<label>.md` and `.html` and stores the metrics in
the database; then it prints the report in the chosen format (or writes it to `--out`). It never
posts the webhook: that is the daily job's. Bad input exits 2 with one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.adapters.sqlite.store import STORAGE_ERRORS, StorageFault, Store, StoreError
from bot.cli.common import console
from bot.config.settings import ConfigError, load_settings
from bot.reports.job import previous_day, run_report
from bot.reports.render_html import render_html
from bot.reports.render_markdown import render_markdown
from bot.reports.render_text import print_report, render_text
from bot.runtime.clock import SystemClock

_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")


class ReportFormat(StrEnum):
    """Output formats of `ltbot report`."""

    TEXT = "text"
    MD = "md"
    HTML = "html"


def _now() -> dt.datetime:
    # The command is the edge: the wall clock is read here (bot.runtime.clock), never in
    # bot/reports.
    return SystemClock().now()


def parse_dates(text: str) -> tuple[dt.date, dt.date]:
    """`YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD` (inclusive) -> (first, last); ValueError."""
    match = _RANGE.match(text.strip())
    if match is None:
        raise ValueError(f"--date: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, got {text!r}")
    try:
        first = dt.date.fromisoformat(match.group(1))
        last = dt.date.fromisoformat(match.group(2) or match.group(1))
    except ValueError as exc:
        raise ValueError(f"--date: {exc}") from None
    if last < first:
        raise ValueError(f"--date: range end {last} is before its start {first}")
    return first, last


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def report_command(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (default: config.toml if present)."),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Ledger database (default: the config's store.path)."),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Local day YYYY-MM-DD or range YYYY-MM-DD..YYYY-MM-DD (default: yesterday).",
        ),
    ] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format: text, md or html.")
    ] = ReportFormat.TEXT,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the output here instead of stdout.")
    ] = None,
) -> None:
    """Write the daily summary (Markdown + HTML into report.out_dir) and print it."""
    try:
        settings = load_settings(config)
        if date is None:
            today = previous_day(_now(), settings.report.timezone)
            first, last = today, today
        else:
            first, last = parse_dates(date)
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    path = db or settings.store.path
    try:
        store = Store.open_ledger(path)
    except (StoreError, StorageFault) as exc:
        raise _fail(str(exc)) from None
    try:
        with store:
            result = run_report(store, settings, first, last)
    except STORAGE_ERRORS as exc:  # e.g. a corrupt page found while reading
        raise _fail(f"{path}: the report failed ({exc})") from None
    if out is not None:
        text = {
            ReportFormat.TEXT: render_text,
            ReportFormat.MD: render_markdown,
            ReportFormat.HTML: render_html,
        }[format](result.report)
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{out}: cannot write: {exc.strerror}") from None
        typer.echo(f"report {result.report.period.label} written to {out}", err=True)
    elif format is ReportFormat.TEXT:
        term = console()
        # A pipe gets wide lines rather than Rich's 80-column default.
        print_report(result.report, term)
    else:
        render = render_markdown if format is ReportFormat.MD else render_html
        typer.echo(render(result.report), nl=False)
