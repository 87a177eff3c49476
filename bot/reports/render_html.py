"""Render a report as one self-contained HTML file: inline CSS and SVG, no script, no network.

Per experiment: verdicts, the charts of html_charts.py (on the model's hourly grid; the tables'
max drawdown uses every NAV row, so it can be deeper than the hourly chart shows), the ranking,
fee and token tables, and a tear sheet (monthly returns heat map per vehicle, worst drawdowns,
the last trades of each perp, each token's rebalances per month or year).
Every text from config or the ledger goes through html.escape.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from bot.reports.charts import UNDERLYING, colour_map, legend
from bot.reports.html_charts import experiment_charts
from bot.reports.model import ExperimentReport, PortfolioReport, Report, ReportPeriod
from bot.reports.tables import (
    CONVENTIONS,
    TextTable,
    fees_table,
    pct,
    period_line,
    ranking_table,
    summary_table,
    token_table,
    verdicts,
)
from bot.reports.tearsheet_tables import (
    drawdowns_table,
    monthly_grid,
    rebalance_table,
    trades_summary,
    trades_table,
    year_return,
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
table.heat td{min-width:52px}
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
    colours = colour_map([p.vehicle for p in report.portfolios])
    parts += [_experiment(e, report.period, colours) for e in report.experiments]
    parts += ["<h2>Conventions</h2>", f'<p class="note">{escape(CONVENTIONS)}</p>']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _experiment(e: ExperimentReport, period: ReportPeriod, colours: Mapping[str, str]) -> str:
    items = [(p.vehicle, colours[p.vehicle]) for p in e.portfolios] + [("underlying", UNDERLYING)]
    charts = "".join(f"<div>{c}</div>" for c in experiment_charts(e, period, colours))
    parts = [
        f"<section><h2>{escape(e.name)}: {escape(e.strategy)} on {escape(e.symbol)}</h2>",
        "<ul>" + "".join(f"<li>{escape(v)}</li>" for v in verdicts(e)) + "</ul>",
        legend(items),
        f'<div class="charts">{charts}</div>',
        _table(ranking_table(e)),
        _table(fees_table(e)),
    ]
    token = token_table(e)
    if token is not None:
        parts.append(_table(token))
    parts.append(_tear_sheet(e, period))
    return "\n".join(parts) + "</section>"


def _tear_sheet(e: ExperimentReport, period: ReportPeriod) -> str:
    parts = [f"<h3>{escape(e.name)}: tear sheet</h3>"]
    if any(len(p.monthly) > 1 for p in e.portfolios):
        parts += [_monthly(p) for p in e.portfolios]
    drawdowns = drawdowns_table(e, period.end)
    if drawdowns is not None:
        parts.append(_table(drawdowns))
    for p in e.portfolios:
        if p.trades:
            parts.append(f'<p class="note">{escape(trades_summary(p))}</p>')
            parts.append(_table(trades_table(p)))
        if p.rebalance_summary:
            parts.append(_table(rebalance_table(p)))
    return "\n".join(parts)


def _monthly(p: PortfolioReport) -> str:
    # A heat map: green for gains, red for losses, full colour at +-20 % in a month.
    years, by_year = monthly_grid(p)
    head = "<th>year</th>" + "".join(f"<th>{m}</th>" for m in _MONTHS) + "<th>year</th>"
    rows = []
    for year in years:
        months = by_year[year]
        cells = "".join(_heat(months.get(i)) for i in range(1, 13))
        rows.append(f"<tr><td>{year}</td>{cells}{_heat(year_return(months))}</tr>")
    died = "" if p.died_at is None else f" (died {p.died_at:%Y-%m-%d}; later months left out)"
    title = f"{p.vehicle}: monthly returns{died}"
    return (
        f'<h3>{escape(title)}</h3><table class="heat"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _heat(value: float | None) -> str:
    if value is None:
        return "<td></td>"
    strength = min(abs(value) / 0.2, 1.0)
    rgb = "46,160,67" if value >= 0 else "214,39,40"
    return (
        f'<td class="num" style="background:rgba({rgb},{strength * 0.6:.2f})">'
        f"{escape(pct(value))}</td>"
    )


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
