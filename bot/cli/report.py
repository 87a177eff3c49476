"""`ltbot report`: the daily summary of a day or a range of days, on demand.

Without `--date` it reports the last complete day the ledger holds (in `report.timezone`,
UTC by default), not the wall clock's yesterday: a replay or demo ledger reports its own last
day. It says on stderr which range and which run(s) it reports. Without `--out`, like the daily
job, it writes `<report.out_dir>/<label>.md` and `.html`, stores the metrics in the database
and prints the report in the chosen format; with `--out` it writes that one file and nothing
else. It never posts the webhook: that is the daily job's. Bad input, and a range with no
data, exit 2 with one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.adapters.sqlite.store import STORAGE_ERRORS, StorageFault, Store, StoreError
from bot.cli.common import (
    ConfigOption,
    QuietOption,
    StrategyPathOption,
    VerboseOption,
    console,
    fail,
    load,
    setup_logging,
)
from bot.config.settings import Settings
from bot.reports.coverage import run_coverage
from bot.reports.export import export_json, write_export
from bot.reports.job import load_report, run_report
from bot.reports.model import Report, ReportPeriod, period_for
from bot.reports.render_html import render_html
from bot.reports.render_markdown import render_markdown
from bot.reports.render_text import print_report, render_text

_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")


class ReportFormat(StrEnum):
    """Output formats of `ltbot report`."""

    TEXT = "text"
    MD = "md"
    HTML = "html"
    JSON = "json"  # the export: every table (bot.reports.export, docs/REPORTS.md "Export")
    CSV = "csv"


class RankBy(StrEnum):
    """What who-won ranks by (`[report] rank_by`)."""

    SHARPE = "sharpe"
    SORTINO = "sortino"
    CALMAR = "calmar"
    RETURN = "return"


_RENDER = {
    ReportFormat.TEXT: render_text,
    ReportFormat.MD: render_markdown,
    ReportFormat.HTML: render_html,
}


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


def report_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Ledger database (default: the config's store.path)."),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Local day YYYY-MM-DD or range YYYY-MM-DD..YYYY-MM-DD (default: the last "
            "complete day in the ledger).",
        ),
    ] = None,
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help="text, md or html; json or csv: every table of the report in the documented "
            "export schema (json to stdout, or files into --out DIR; csv needs --out DIR).",
        ),
    ] = ReportFormat.TEXT,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the output to this file only (not into report.out_dir); a directory "
            "for --format json/csv.",
        ),
    ] = None,
    rank_by: Annotated[
        RankBy | None,
        typer.Option("--rank-by", help="Who won ranks by this (default: report.rank_by)."),
    ] = None,
    strategy_path: StrategyPathOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Report a day or range of days of the ledger (default: its last complete day)."""
    settings = load(config, strategy_path)
    if rank_by is not None:
        report_settings = settings.report.model_copy(update={"rank_by": rank_by.value})
        settings = settings.model_copy(update={"report": report_settings})
    try:
        dates = None if date is None else parse_dates(date)
    except ValueError as exc:
        raise fail(str(exc)) from None
    export = format in (ReportFormat.JSON, ReportFormat.CSV)
    if format is ReportFormat.CSV and out is None:
        raise fail("--format csv writes one file per table: give --out DIR")
    # No log file: a running daemon owns (and rotates) the one beside the ledger.
    setup_logging(ctx, settings, file=False, quiet=quiet, verbose=verbose)
    path = db or settings.store.path
    try:
        store = Store.open_ledger(path)
    except (StoreError, StorageFault) as exc:
        raise fail(str(exc)) from None
    try:
        with store:
            report = _report(store, settings, dates, out is None and not export)
    except STORAGE_ERRORS as exc:  # e.g. a corrupt page found while reading
        raise fail(f"{path}: the report failed ({exc})") from None
    _emit(report, format, out)


def _report(
    store: Store, settings: Settings, dates: tuple[dt.date, dt.date] | None, write: bool
) -> Report:
    """The report of `dates` (default: the ledger's last complete day); exit 2 when its
    range holds no data. `write`: also write the files into report.out_dir and store the
    metrics, as the daily job does."""
    zone = settings.report.timezone
    first, last = dates or _last_complete_day(store, zone)
    period = period_for(first, last, zone)
    if store.nav_span(period.start, period.end) is None:
        raise fail(f"{store.path}: no data for {_window(period)}: {_held(store)}")
    typer.echo(f"report {_window(period)}; {_runs(store, period)}", err=True)
    if write:
        return run_report(store, settings, first, last).report
    return load_report(store, period, settings.report.rank_by)


def _last_complete_day(store: Store, zone: str) -> tuple[dt.date, dt.date]:
    # The day before the one of the latest NAV row (local time): data up to 2024-03-11 00:00
    # or 13:00 completes 2024-03-10. A ledger that has not yet crossed a midnight has none.
    span = store.nav_span()
    if span is None:
        raise fail(f"{store.path}: no data in the ledger yet (no step committed)")
    tz = ZoneInfo(zone)
    day = span[1].astimezone(tz).date() - dt.timedelta(days=1)
    if day < span[0].astimezone(tz).date():
        raise fail(f"{store.path}: no complete day in the ledger yet: {_held(store)}")
    return day, day


def _window(period: ReportPeriod) -> str:
    start, end = period.start.strftime("%Y-%m-%d %H:%M"), period.end.strftime("%Y-%m-%d %H:%M")
    zone = "" if period.timezone == "UTC" else f", {period.timezone} days"
    return f"{period.label} ({start} to {end} UTC{zone})"


def _held(store: Store) -> str:
    # What the ledger does hold, and how its latest run ended (a partial replay says so).
    span, runs = store.nav_span(), run_coverage(store)
    held = (
        "it holds no step"
        if span is None
        else (f"it holds {span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M} UTC")
    )
    return held if not runs else f"{held}; latest {runs[-1].describe()}"


def _runs(store: Store, period: ReportPeriod) -> str:
    # The runs with a committed step in the window, as `ltbot status` describes them.
    runs = [
        r
        for r in run_coverage(store)
        if r.covered_to is not None and r.started_at < period.end and r.covered_to > period.start
    ]
    return "; ".join(r.describe() for r in runs) or "no run covers it"


def _emit(report: Report, format: ReportFormat, out: Path | None) -> None:
    if format in (ReportFormat.JSON, ReportFormat.CSV):
        _export(report, format, out)
    elif out is not None:
        try:
            out.write_text(_RENDER[format](report), encoding="utf-8")
        except OSError as exc:
            raise fail(f"{out}: cannot write: {exc.strerror}") from None
        typer.echo(f"report {report.period.label} written to {out}", err=True)
    elif format is ReportFormat.TEXT:
        print_report(report, console())
    else:
        typer.echo(_RENDER[format](report), nl=False)


def _export(report: Report, format: ReportFormat, out: Path | None) -> None:
    # Every table of the report: one JSON document on stdout, or files into the directory.
    if out is None:
        typer.echo(export_json(report), nl=False)
        return
    try:
        paths = write_export(report, out, "json" if format is ReportFormat.JSON else "csv")
    except OSError as exc:
        raise fail(f"{out}: cannot write: {exc.strerror}") from None
    typer.echo(f"report {report.period.label} exported to {out} ({len(paths)} files)", err=True)
