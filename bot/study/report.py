"""`ltbot study report`: the verdict as Markdown or HTML, or the results as JSON or CSV.

JSON is a list of records (`pandas.read_json(path)` loads it back); CSV has a header row. Both
hold every result row: one per cell x vehicle, with the cell's window and regime.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from bot.study.verdict import CONTRIBUTIONS, REGIMES, TERCILES, PairVerdict, headline, judge

FORMATS = ("md", "html", "json", "csv")
Table = tuple[list[str], list[list[str]]]


def write_report(frame: pd.DataFrame, study_file: Path, fmt: str, out: Path | None) -> str:
    """Render `frame` in `fmt`; write it to `out` when given; return the text."""
    if fmt == "json":
        text = frame.to_json(orient="records", indent=1) + "\n"
    elif fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        title, lead, sections = verdict_sections(frame, study_file)
        text = (_markdown if fmt == "md" else _html)(title, lead, sections)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text


def verdict_sections(
    frame: pd.DataFrame, study_file: Path
) -> tuple[str, str, list[tuple[str, str, Table]]]:
    """The report's title, first paragraph and (heading, note, table) sections."""
    verdicts = judge(frame)
    title = f"Study verdict: {study_file.name}"
    sections = [
        ("Token against stop-loss perp", _GAP_NOTE, _gap_table(verdicts)),
        ("By strategy", "Token win rate per strategy (all its parameter sets).",
         _strategy_table(verdicts)),
        *[
            (f"By {name}", f"Token win rate per tercile of {name} over the cells.",
             _regime_table(verdicts, column))
            for column, name in REGIMES
        ],
        ("What explains the gap", _ATTR_NOTE, _attribution_table(verdicts)),
    ]  # fmt: skip
    return title, headline(frame, verdicts), sections


_GAP_NOTE = (
    "gap = token log return - perp log return per cell (natural logs); a token wins a cell when "
    "its final NAV is above the perp's. Win rate with two Wilson 95 % intervals: over the cells "
    "as if independent (too narrow: overlapping windows, and the symbols and strategies of one "
    "window, share their market), and over time blocks, each block of overlapping windows "
    "counted once (errs wide, as if a block's cells moved together)."
)
_ATTR_NOTE = (
    "Mean gap split into contributions that sum to it (positive favours the token), over the "
    "cells where both log returns exist: exposure = the token's benchmark (L x the underlying "
    "while held) minus the perp's log return before its fees and funding (its trades, stops "
    "included); the token's decay and costs as log returns (bot/reports/decay.py); the perp's "
    "fees and funding as fractions of capital, with the sign flipped."
)


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _num(x: float | None) -> str:
    return "-" if x is None or pd.isna(x) else f"{x:+.4f}"


def _gap_table(verdicts: list[PairVerdict]) -> Table:
    head = [
        "token",
        "perp",
        "cells",
        "token lost",
        "win rate (95 % CI: cells / time blocks)",
        "gap p10",
        "median",
        "p90",
    ]
    rows = [
        [
            v.token,
            v.perp,
            str(v.cells),
            _pct(1 - v.win_rate),
            f"{_pct(v.win_rate)} ({_pct(v.interval[0])}-{_pct(v.interval[1])} / "
            f"{_pct(v.block_interval[0])}-{_pct(v.block_interval[1])}, {v.blocks} blocks)",
            _num(v.gap_p10),
            _num(v.gap_median),
            _num(v.gap_p90),
        ]  # fmt: skip
        for v in verdicts
    ]
    return head, rows


def _strategy_table(verdicts: list[PairVerdict]) -> Table:
    names = sorted({name for v in verdicts for name in v.by_strategy})
    rows = []
    for v in verdicts:
        cells = []
        for name in names:
            wins, n = v.by_strategy.get(name, (0, 0))
            cells.append(f"{_pct(wins / n)} of {n}" if n else "-")
        rows.append([v.token, v.perp, *cells])
    return ["token", "perp", *names], rows


def _regime_table(verdicts: list[PairVerdict], column: str) -> Table:
    head = ["token", "perp", *TERCILES]
    rows = []
    for v in verdicts:
        cells = []
        for tercile in TERCILES:
            wins, n = v.by_regime.get(column, {}).get(tercile, (0, 0))
            cells.append(f"{_pct(wins / n)} of {n}" if n else "-")
        rows.append([v.token, v.perp, *cells])
    return head, rows


def _attribution_table(verdicts: list[PairVerdict]) -> Table:
    head = ["token", "perp", "cells", "mean gap", "exposure", "token decay", "token rebalancing",
            "token management", "token funding", "token sub/red", "perp fees", "perp funding",
            "perp stops/cell"]  # fmt: skip
    rows = []
    for v in verdicts:
        a = v.attribution
        rows.append(
            [v.token, v.perp, f"{a.get('cells', 0):.0f}", _num(a.get("gap")),
             *(_num(a.get(k)) for k in CONTRIBUTIONS), f"{a.get('perp_stops', 0.0):.2f}"]
        )  # fmt: skip
    return head, rows


def _markdown(title: str, lead: str, sections: list[tuple[str, str, Table]]) -> str:
    lines = [f"# {title}", "", lead, ""]
    for heading, note, (head, rows) in sections:
        lines += [f"## {heading}", "", note, "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def _html(title: str, lead: str, sections: list[tuple[str, str, Table]]) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>',
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:right}td:first-child,td:nth-child(2){text-align:left}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(lead)}</p>",
    ]
    for heading, note, (head, rows) in sections:
        parts += [f"<h2>{e(heading)}</h2>", f"<p>{e(note)}</p>", "<table>"]
        parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
