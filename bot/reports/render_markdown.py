"""Render a report as GitHub-flavoured Markdown (deterministic: same report, same text)."""

from __future__ import annotations

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


def render_markdown(report: Report) -> str:
    """The whole report as Markdown, ending with one newline."""
    lines = [f"# ltbot report {report.period.label}", "", period_line(report), ""]
    lines += [line for note in report.notes for line in (_escape(note), "")]
    if not report.experiments:
        lines += ["No portfolios in the ledger.", ""]
    else:
        lines += _table(summary_table(report))
    for e in report.experiments:
        lines += [f"## {_escape(e.name)}: {_escape(e.strategy)} on {_escape(e.symbol)}", ""]
        lines += [f"- {_escape(v)}" for v in verdicts(e)] + [""]
        lines += _table(ranking_table(e)) + _table(fees_table(e))
        token = token_table(e)
        if token is not None:
            lines += _table(token)
    lines += ["## Conventions", "", CONVENTIONS, ""]
    return "\n".join(lines)


def _table(table: TextTable) -> list[str]:
    align = ["---:" if n else ":---" for n in table.numeric]
    out = [f"### {_escape(table.title)}", "", _row(table.headers), "| " + " | ".join(align) + " |"]
    out += [_row(row) for row in table.rows]
    return out + [""]


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(_escape(c) for c in cells) + " |"


def _escape(text: str) -> str:
    # Names come from config; keep them from breaking a table or starting markup.
    for char in "\\|*_`[]<>":
        text = text.replace(char, "\\" + char)
    return text
