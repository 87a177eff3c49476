"""Render a report for the terminal with Rich tables."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.reports.model import Report
from bot.reports.tables import (
    CONVENTIONS,
    TextTable,
    fees_table,
    period_line,
    ranking_table,
    summary_table,
    token_table,
    verdicts,
)


def print_report(report: Report, console: Console) -> None:
    """Print the report on `console` (names are printed as text, never as Rich markup)."""
    console.print(f"ltbot report {report.period.label}", style="bold", markup=False)
    console.print(period_line(report), markup=False)
    for note in report.notes:
        console.print(note, markup=False)
    if not report.experiments:
        console.print("No portfolios in the ledger.", markup=False)
        return
    console.print(_rich(summary_table(report)))
    for e in report.experiments:
        console.print()
        console.print(f"{e.name}: {e.strategy} on {e.symbol}", style="bold", markup=False)
        for line in verdicts(e):
            console.print(f"  - {line}", markup=False, highlight=False)
        console.print(_rich(ranking_table(e)))
        console.print(_rich(fees_table(e)))
        token = token_table(e)
        if token is not None:
            console.print(_rich(token))
    console.print(CONVENTIONS, style="dim", markup=False)


def render_text(report: Report, width: int = 200) -> str:
    """The terminal report as plain text (no colour), `width` columns wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_report(report, console)
    return buffer.getvalue()


def _rich(table: TextTable) -> Table:
    # Titles and cells are plain Text: config names may contain [brackets] (Rich markup).
    out = Table(
        title=Text(table.title),
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header, numeric in zip(table.headers, table.numeric, strict=True):
        # Keep vehicle names whole; let the free-text columns wrap instead.
        whole = numeric or header == "vehicle"
        out.add_column(
            Text(header),
            justify="right" if numeric else "left",
            no_wrap=whole,
            min_width=None if whole else 18,
        )
    for row in table.rows:
        out.add_row(*(Text(cell) for cell in row))
    return out
