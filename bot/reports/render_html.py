"""Render a report as one self-contained HTML file: inline CSS and SVG, no script, no network.

Charts per experiment: NAV normalised to 1 at the start (with the underlying), drawdown, fees by
kind, and the token portfolios' leverage over time, all on the hourly grid of the model (the
tables' max drawdown uses every NAV row, so it can be deeper than the hourly chart shows).
Every text from config or the ledger goes through html.escape.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from bot.reports import metrics
from bot.reports.charts import Line, Stack, bar_chart, legend, line_chart
from bot.reports.model import FEE_KINDS, ExperimentReport, Report, ReportPeriod
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

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
background:#fff;line-height:1.4}
h1{font-size:1.6em;margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #ccc}
h3{font-size:1em;margin:16px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:4px 0 12px}
th,td{border:1px solid #ddd;padding:3px 8px;white-space:nowrap}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{max-width:100%;height:auto;
border:1px solid #eee}
ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;
font-size:13px}.swatch{display:inline-block;width:10px;height:10px;margin-right:5px}
.note{color:#555;font-size:13px;max-width:1100px}
"""


def render_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8 text, ending with one newline)."""
    title = f"ltbot report {report.period.label}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request, even from file://
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">{escape(period_line(report))}</p>',
        *(f'<p class="note">{escape(note)}</p>' for note in report.notes),
    ]
    if report.experiments:
        parts.append(_table(summary_table(report)))
    else:
        parts.append("<p>No portfolios in the ledger.</p>")
    parts += [_experiment(e, report.period) for e in report.experiments]
    parts += ["<h2>Conventions</h2>", f'<p class="note">{escape(CONVENTIONS)}</p>']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _experiment(e: ExperimentReport, period: ReportPeriod) -> str:
    parts = [
        f"<section><h2>{escape(e.name)}: {escape(e.strategy)} on {escape(e.symbol)}</h2>",
        "<ul>" + "".join(f"<li>{escape(v)}</li>" for v in verdicts(e)) + "</ul>",
        legend([p.vehicle for p in e.portfolios] + ["underlying"]),
        f'<div class="charts">{"".join(_charts(e, period))}</div>',
        _table(ranking_table(e)),
        _table(fees_table(e)),
    ]
    token = token_table(e)
    if token is not None:
        parts.append(_table(token))
    return "\n".join(parts) + "</section>"


def _charts(e: ExperimentReport, period: ReportPeriod) -> list[str]:
    ticks = _time_ticks(period)

    def hours(at: datetime) -> float:
        return (at - period.start).total_seconds() / 3600

    nav_lines, dd_lines, lev_lines = [], [], []
    for i, p in enumerate(e.portfolios):
        base = p.nav_start or 1.0
        nav_lines.append(Line(p.vehicle, [(hours(g.at), g.nav / base) for g in p.grid], i))
        dd = metrics.drawdown_series([g.nav for g in p.grid])
        dd_lines.append(
            Line(p.vehicle, [(hours(g.at), -d) for g, d in zip(p.grid, dd, strict=True)], i)
        )
        if p.kind == "token":
            lev_lines.append(Line(p.vehicle, [(hours(g.at), g.leverage) for g in p.grid], i))
    # The underlying from the portfolio whose NAV rows saw the most distinct prices.
    priced = max(e.portfolios, key=lambda p: len({g.price for g in p.grid}))
    if priced.price_start:
        s0 = priced.price_start
        points = [(hours(g.at), g.price / s0) for g in priced.grid]
        nav_lines.append(Line("underlying", points, len(e.portfolios)))
    charts = [
        line_chart("NAV (1 = start)", nav_lines, ticks, lambda v: f"{v:.3g}"),
        line_chart("Drawdown (hourly)", dd_lines, ticks, lambda v: f"{round(v * 100) + 0:.0f} %"),
        bar_chart(
            "Fees by kind (USDT; funding net, < 0 received)",
            [p.vehicle for p in e.portfolios],
            [Stack(k, [p.fees.get(k, 0.0) for p in e.portfolios]) for k in FEE_KINDS],
            lambda v: f"{v:,.4g}",
        )
        + legend(list(FEE_KINDS)),
    ]
    if lev_lines:
        charts.append(line_chart("Token leverage", lev_lines, ticks, lambda v: f"{v:.2f}x"))
    return [f"<div>{c}</div>" for c in charts]


def _time_ticks(period: ReportPeriod) -> list[tuple[float, str]]:
    # Axis labels in the report's timezone: hours within a day or two, dates beyond.
    span = (period.end - period.start).total_seconds() / 3600
    step = 6 if span <= 36 else 24 if span <= 24 * 8 else 24 * 7
    zone = ZoneInfo(period.timezone)
    ticks = []
    hour = 0
    while hour <= span + 1e-9:
        local = (period.start + timedelta(hours=hour)).astimezone(zone)
        ticks.append((float(hour), local.strftime("%H:%M" if step < 24 else "%m-%d")))
        hour += step
    return ticks


def _table(table: TextTable) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if n else f"<td>{escape(c)}</td>"
            for c, n in zip(row, table.numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return (
        f"<h3>{escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
