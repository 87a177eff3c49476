"""`ltbot serve`: a read-only web view over a ledger, safe beside the daemon that writes it.

Built on Starlette (served by uvicorn): a small, well-kept ASGI toolkit with routing, responses
and a threadpool for plain functions, and nothing we would not use; datasette would show the
tables but not the status, holdings and reports this view is for. Every request opens the
ledger read-only (`ReadOnlyLedger`, SQLite `mode=ro` in WAL mode): it never writes, never
blocks the daemon, and sees the ledger as of one committed step.

Routes: `/` (per experiment: NAV, return, holding and leverage as of the last step),
`/report/today` (the report of the last step's UTC day so far), `/report/YYYY-MM-DD`,
`/reports` (the days with data), `/api/status` and `/api/nav/<portfolio id>?limit=N` (JSON).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from bot.adapters.sqlite.read_only import ReadOnlyLedger
from bot.adapters.sqlite.store import StoreError
from bot.reports.comparison import comparison_rows
from bot.reports.holdings import holding_text
from bot.reports.job import load_report
from bot.reports.model import period_for
from bot.reports.render_html import render_html
from bot.web.pages import message_page, reports_page, status_page

# No script, no outside resource: what a page could be tricked into loading or running.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_NAV_ROWS = 100_000


def create_app(db: Path, timezone: str = "UTC") -> Starlette:
    """The web app over the ledger at `db`; daily reports cut days in `timezone`."""
    routes = [
        Route("/", _index),
        Route("/report/{day}", _report),
        Route("/reports", _reports),
        Route("/api/status", _api_status),
        Route("/api/nav/{portfolio:path}", _api_nav),
    ]
    app = Starlette(routes=routes)
    app.state.db, app.state.timezone = db, timezone
    return app


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status, headers=HEADERS)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers=HEADERS)


def _ledger(request: Request) -> ReadOnlyLedger:
    # One read-only connection per request (StoreError when the file is gone or foreign).
    return ReadOnlyLedger(request.app.state.db)


def _unavailable(exc: StoreError) -> HTMLResponse:
    return _html(message_page("Ledger unavailable", str(exc)), 503)


def _index(request: Request) -> HTMLResponse:
    try:
        with _ledger(request) as ledger:
            name = request.app.state.db.name
            return _html(status_page(name, ledger.last_step(), status_rows(ledger)))
    except StoreError as exc:
        return _unavailable(exc)


def _report(request: Request) -> HTMLResponse:
    text = request.path_params["day"]
    try:
        with _ledger(request) as ledger:
            last = ledger.last_step()
            day = _day(text, None if last is None else last.date())
            if day is None:
                return _html(message_page("No such day", f"{text!r}: expected YYYY-MM-DD"), 404)
            period = period_for(day, day, request.app.state.timezone)
            return _html(render_html(load_report(ledger, period)))
    except StoreError as exc:
        return _unavailable(exc)


def _reports(request: Request) -> HTMLResponse:
    try:
        with _ledger(request) as ledger:
            span = ledger.nav_span()
    except StoreError as exc:
        return _unavailable(exc)
    if span is None:
        return _html(reports_page([]))
    first, last = span[0].date(), span[1].date()
    return _html(reports_page([last - timedelta(days=i) for i in range((last - first).days + 1)]))


def _api_status(request: Request) -> JSONResponse:
    try:
        with _ledger(request) as ledger:
            last = ledger.last_step()
            rows = status_rows(ledger)
    except StoreError as exc:
        return _json({"error": str(exc)}, 503)
    return _json({"as_of": None if last is None else last.isoformat(), "portfolios": rows})


def _api_nav(request: Request) -> JSONResponse:
    try:
        limit = min(max(int(request.query_params.get("limit", "1000")), 1), MAX_NAV_ROWS)
    except ValueError:
        return _json({"error": "limit: expected an integer"}, 400)
    pid = request.path_params["portfolio"]
    try:
        with _ledger(request) as ledger:
            rows = ledger.nav_series(pid, limit)
    except StoreError as exc:
        return _json({"error": str(exc)}, 503)
    return _json({"portfolio": pid, "nav": rows})


def status_rows(ledger: ReadOnlyLedger) -> list[dict[str, Any]]:
    """Per portfolio, by experiment (best return first, as `ltbot status`): definition, NAV,
    return on capital, leverage, exposure, the open position, token units and the holding in
    words, as of its latest NAV row (JSON-ready values)."""
    held = ledger.holdings()
    rows = []
    for members in comparison_rows(ledger).values():
        for summary in members:
            h = held[summary["id"]]
            position = h["position"]
            rows.append(
                {
                    **{k: summary[k] for k in ("id", "experiment", "vehicle", "symbol")},
                    **{k: summary[k] for k in ("capital", "nav", "return", "leverage")},
                    "exposure": h["exposure"],
                    "as_of": None if h["at"] is None else h["at"].isoformat(),
                    "position": None if position is None else dict(position),
                    "tokens": h["tokens"],
                    "holding": holding_text(h),
                }
            )
    return rows


def _day(text: str, today: date | None) -> date | None:
    # "today" is the last step's UTC day (a replay's ledger has no today of its own).
    if text == "today":
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
