"""A portfolio that stops trading says so: refused entries counted per reason and day in the
ledger, a death written once, both in the report's ranking and verdicts (issue 14, point 5)."""

from __future__ import annotations

import sqlite3
from datetime import date

from bot.adapters.sqlite.store import Store
from bot.domain.records import DeathRecord, RefusalRecord
from bot.domain.values import Refusal
from bot.engine.ports import PortfolioStep, StepBatch
from bot.reports.model import LedgerRows, build_report, period_for
from bot.reports.render_markdown import render_markdown
from tests.reports.report_ledger import STATIC, h


def _write(store: Store, *steps: PortfolioStep) -> None:
    store.write_steps([StepBatch(portfolios=list(steps))])


def test_refusals_add_up_per_reason_and_day_and_a_death_is_written_once(ledger: Store) -> None:
    # 10:00 the static perp was liquidated to 97.9 USDT (the fixed ledger); it then refuses
    # three entries, two on the 1st and one on the 2nd, and dies at 10:00 (written twice).
    dies = DeathRecord(h(10), "NAV 97.90 USDT cannot pay for the smallest order")
    _write(
        ledger,
        PortfolioStep(
            STATIC,
            refusals=[RefusalRecord(h(11), Refusal.MIN_NOTIONAL)],
            death=dies,
        ),
    )
    _write(ledger, PortfolioStep(STATIC, refusals=[RefusalRecord(h(12), Refusal.MIN_NOTIONAL)]))
    _write(
        ledger,
        PortfolioStep(
            STATIC,
            refusals=[RefusalRecord(h(30), Refusal.MIN_NOTIONAL)],
            death=DeathRecord(h(30), "later"),
        ),
    )
    with sqlite3.connect(ledger.path) as conn:
        rows = conn.execute(
            "SELECT reason, day, count, first_at, last_at FROM entry_refusals ORDER BY day"
        ).fetchall()
        deaths = conn.execute("SELECT portfolio_id, at, cause FROM portfolio_deaths").fetchall()
    assert rows == [
        ("min_notional", "2024-01-01", 2, "2024-01-01T11:00:00.000Z", "2024-01-01T12:00:00.000Z"),
        ("min_notional", "2024-01-02", 1, "2024-01-02T06:00:00.000Z", "2024-01-02T06:00:00.000Z"),
    ]
    assert deaths == [(STATIC, "2024-01-01T10:00:00.000Z", dies.cause)]

    # The report of the 1st: the day's two refusals, the death in the ranking and the verdict.
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    report = build_report(
        LedgerRows.from_mapping(ledger.report_rows(period.start, period.end)), period
    )
    static = next(p for p in report.portfolios if p.id == STATIC)
    assert static.refused == {"min_notional": 2}
    assert static.died_at == h(10) and static.death_cause == dies.cause
    text = render_markdown(report)
    assert "| 2024-01-01 10:00 |" in text
    assert (
        "Died 2024-01-01 10:00 UTC: NAV 97.90 USDT cannot pay for the smallest order. "
        "Entries refused: min\\_notional 2." in text  # Markdown-escaped
    )
