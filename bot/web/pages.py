"""The HTML of `ltbot serve`: small server-rendered pages, every ledger string escaped.

Names of experiments, vehicles and symbols come from a user's config and reach the page only
through `html.escape`; numbers are formatted here. No script, no external resource: the pages
render offline and a strict Content-Security-Policy (see `bot.web.app`) forbids both anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
.neg{color:#b00}.muted{color:#777}nav a{margin-right:1em}
"""


def page(title: str, body: str) -> str:
    """A whole HTML document; `title` is escaped, `body` must already be safe HTML."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        "<nav><a href=/>Now</a><a href=/report/today>Today so far</a>"
        "<a href=/reports>Daily reports</a><a href=/api/status>JSON status</a></nav>"
        f"{body}</body></html>"
    )


def status_page(ledger_name: str, as_of: datetime | None, rows: Sequence[Mapping[str, Any]]) -> str:
    """Per experiment: each portfolio's NAV, return, holding and leverage as of the last step."""
    when = "no step yet" if as_of is None else f"as of {as_of:%Y-%m-%d %H:%M:%S} UTC"
    parts = [f"<h1>ltbot: {escape(ledger_name)}</h1>", f"<p class=muted>{when} (last step)</p>"]
    for experiment, mine in _by_experiment(rows):
        parts.append(f"<h2>{escape(experiment)}</h2>")
        parts.append(
            "<table><tr><th>vehicle</th><th>symbol</th><th>NAV as of (UTC)</th>"
            "<th>NAV (USDT)</th><th>return</th><th>leverage</th><th>holding</th></tr>"
        )
        parts += [_status_row(row) for row in mine]
        parts.append("</table>")
    return page(f"ltbot: {ledger_name}", "".join(parts))


def reports_page(days: Iterable[date]) -> str:
    """Links to each day's report, newest first."""
    items = "".join(f"<li><a href=/report/{d.isoformat()}>{d.isoformat()}</a></li>" for d in days)
    return page("ltbot: daily reports", f"<h1>Daily reports</h1><ul>{items or '<li>none'}</ul>")


def message_page(title: str, text: str) -> str:
    """A page with one escaped message (no data, a bad date)."""
    return page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")


def _by_experiment(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["experiment"]), []).append(row)
    return list(groups.items())


def _status_row(row: Mapping[str, Any]) -> str:
    nav, ret = row.get("nav"), row.get("return")
    at = row.get("as_of")
    cells = [
        escape(str(row["vehicle"])),
        escape(str(row["symbol"])),
        "-" if at is None else escape(str(at)[:16].replace("T", " ")),
        "-" if nav is None else f"{nav:,.2f}",
        "-" if ret is None else f"<span class={'neg' if ret < 0 else 'pos'}>{ret:+.2%}</span>",
        "-" if row.get("leverage") is None else f"{row['leverage']:.2f}x",
        escape(str(row["holding"])),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
