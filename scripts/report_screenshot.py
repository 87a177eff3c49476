"""The long-horizon report check: the 6.7-year replay of config.example.toml as one HTML report.

    .venv/bin/python scripts/report_screenshot.py [--db /tmp/reports_1h.db] [--out DIR]
        [--screenshot docs/report-long.png]

Replays ../shared/data/binance_usdm/1h with config.example.toml into `--db` unless that ledger
exists (about 60 to 90 s), reports its whole span (about 40 s), and checks what issue 18 asks:
the HTML is at most 3 MB; every token's log attribution adds up to its realised log return
(to 1e-9) with no part beyond 100 (10,000 log points); headless Chromium renders it with no
console message. Then it writes the HTML, the JSON export and the screenshot (the top of the
page, 1280 x 2400). Prints one line per check; exits 1 when one fails, 2 without the data.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.adapters.sqlite.coverage import nav_span  # noqa: E402
from bot.adapters.sqlite.store import Store  # noqa: E402
from bot.reports.export import write_export  # noqa: E402
from bot.reports.job import load_report  # noqa: E402
from bot.reports.model import Report, period_for  # noqa: E402
from bot.reports.render_html import render_html  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "binance_usdm" / "1h"
MAX_BYTES = 3_000_000
TERMS = ("decay", "rebalancing", "management", "funding", "subscription_redemption")
CONSOLE = re.compile(r":CONSOLE|Uncaught", re.IGNORECASE)


def replay(db: Path) -> None:
    """Write the 6.7-year replay ledger of config.example.toml to `db`."""
    command = [
        sys.executable, "-m", "bot", "replay", "--data", str(DATA), "--config",
        str(REPO / "config.example.toml"), "--db", str(db), "-q",
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def attribution_problems(report: Report) -> list[str]:
    """Tokens whose log attribution does not add up or is out of bounds."""
    problems = []
    for p in report.portfolios:
        if (t := p.token) is None:
            continue
        total = t.benchmark_log + sum(getattr(t, k) for k in TERMS)
        alive = t.until is None
        if alive and not math.isclose(t.token_log, math.log(p.nav_end / p.nav_start), abs_tol=1e-9):
            problems.append(f"{p.id}: log return {t.token_log} is not ln(NAV end / NAV start)")
        if not math.isclose(total, t.token_log, abs_tol=1e-9):
            problems.append(f"{p.id}: parts add up to {total}, not {t.token_log}")
        if any(abs(getattr(t, k)) > 100 for k in (*TERMS, "gap", "benchmark_log")):
            problems.append(f"{p.id}: a part beyond 10,000 log points")
    return problems


def chromium(page: Path, shot: Path) -> list[str]:
    """Console lines of headless Chromium rendering `page` (and its screenshot to `shot`)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        return ["chromium is not installed (scripts/install_chromium.sh)"]
    with tempfile.TemporaryDirectory() as profile:
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars",
            f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri(),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    return [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


def main() -> int:
    """Run the checks; 0 when all hold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/reports_1h.db"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/report-long"))
    parser.add_argument("--screenshot", type=Path, default=REPO / "docs" / "report-long.png")
    args = parser.parse_args()
    if not args.db.exists():
        if not DATA.is_dir():
            print(f"error: {DATA} not present (needs ../shared/data beside the clone)")
            return 2
        replay(args.db)
    with Store(args.db) as store:
        span = nav_span(store.db)
        assert span is not None, "the ledger has no NAV rows"
        report = load_report(store, period_for(span[0].date(), span[1].date(), "UTC"))
    html = render_html(report)
    args.out.mkdir(parents=True, exist_ok=True)
    page = args.out / f"{report.period.label}.html"
    page.write_text(html, encoding="utf-8")
    write_export(report, args.out / "json", "json")
    size = len(html.encode("utf-8"))
    failures = [] if size <= MAX_BYTES else [f"HTML is {size:,} bytes (> {MAX_BYTES:,})"]
    failures += attribution_problems(report)
    failures += chromium(page, args.screenshot)
    print(f"report {report.period.label}: {page} ({size:,} bytes), screenshot {args.screenshot}")
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
