"""The HTML report in headless Chromium: it renders offline with no console message at all.

Needs Debian's chromium (`scripts/install_chromium.sh`); skipped with the reason otherwise.
`LTBOT_UPDATE_SCREENSHOT=1` also refreshes docs/report-screenshot.png from the fixed ledger.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

from bot.adapters.sqlite.store import Store
from bot.reports.model import LedgerRows, build_report, period_for
from bot.reports.render_html import render_html
from tests.chromium_kit import console_lines, open_page

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"


def _run(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return open_page(page.as_uri(), tmp_path, *extra)


def _report_page(store: Store, tmp_path: Path) -> Path:
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    report = build_report(
        LedgerRows.from_mapping(store.report_rows(period.start, period.end)), period
    )
    page = tmp_path / "2024-01-01.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page


def test_harness_sees_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>')
    result = _run(page, tmp_path, "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in console_lines(result.stderr))


def test_report_renders_without_console_errors(ledger: Store, tmp_path: Path) -> None:
    page = _report_page(ledger, tmp_path)
    result = _run(page, tmp_path, "--dump-dom")
    assert console_lines(result.stderr) == []
    assert "<h1>ltbot report 2024-01-01</h1>" in result.stdout
    assert result.stdout.count("<svg") == 10  # 5 charts per experiment
    shot = tmp_path / "shot.png"
    result = _run(
        page, tmp_path, "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,2600"
    )
    assert console_lines(result.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("LTBOT_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())
