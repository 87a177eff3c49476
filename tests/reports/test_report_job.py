"""The report job and `ltbot report`: files, stored metrics, idempotence, bad input."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from loguru import logger
from report_ledger import PERP, TOKEN
from typer.testing import CliRunner

from bot.adapters.sqlite.store import Store
from bot.cli.report import parse_dates, report_command
from bot.config.settings import Settings
from bot.reports.job import daily_report_job, previous_day, run_daily_report

DAY = date(2024, 1, 1)


def _settings(tmp_path: Path, db: Path | None = None) -> Settings:
    store = {"path": db or tmp_path / "ledger.db"}
    return Settings(report={"out_dir": tmp_path / "reports"}, store=store)


def _metrics(store: Store, period: str) -> list[dict[str, Any]]:
    return store.rows("report_metrics", "period = ?", [period], order_by="portfolio_id, metric")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("unused")(lambda: None)  # keep "report" a subcommand
    return app


def test_daily_report_writes_files_and_metrics(ledger: Store, tmp_path: Path) -> None:
    result = run_daily_report(ledger, _settings(tmp_path), DAY)
    assert result.markdown == tmp_path / "reports" / "2024-01-01.md"
    assert result.html == tmp_path / "reports" / "2024-01-01.html"
    assert result.markdown.read_text(encoding="utf-8").startswith("# ltbot report 2024-01-01")
    assert result.notified is None  # no webhook configured
    metrics = {
        (r["portfolio_id"], r["metric"]): r["value"] for r in _metrics(ledger, DAY.isoformat())
    }
    assert metrics[(TOKEN, "return")] == pytest.approx(0.11898)
    assert metrics[(TOKEN, "token_decay")] == pytest.approx(-0.117465, abs=1e-6)  # log terms
    assert metrics[(TOKEN, "rank")] == 2  # by Sharpe, after the spot (test_report_model.py)
    assert metrics[(PERP, "stops")] == 1
    assert metrics[(PERP, "fee_trading")] == pytest.approx(2.77)
    assert ("eth-trend/spot", "sharpe") in metrics and metrics[("eth-trend/spot", "sharpe")] is None


def test_report_rank_by_setting_orders_the_ranking(ledger: Store, tmp_path: Path) -> None:
    settings = Settings(
        report={"out_dir": tmp_path / "reports", "rank_by": "return"},
        store={"path": tmp_path / "ledger.db"},
    )
    run_daily_report(ledger, settings, DAY)
    metrics = {
        (r["portfolio_id"], r["metric"]): r["value"] for r in _metrics(ledger, DAY.isoformat())
    }
    assert metrics[(TOKEN, "rank")] == 1  # +11.90 % beats the spot's +8 % on return
    assert metrics[(PERP, "rank")] == 3


def test_running_twice_gives_the_same_files_and_rows(ledger: Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = run_daily_report(ledger, settings, DAY)
    md, html = first.markdown.read_bytes(), first.html.read_bytes()
    rows = _metrics(ledger, "2024-01-01")
    second = run_daily_report(ledger, settings, DAY)
    assert (second.markdown.read_bytes(), second.html.read_bytes()) == (md, html)
    assert _metrics(ledger, "2024-01-01") == rows  # replaced, not duplicated
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "2024-01-01.html",
        "2024-01-01.md",
    ]


def test_previous_day_is_local() -> None:
    now = datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    assert previous_day(now, "UTC") == date(2024, 1, 1)
    assert previous_day(now, "America/New_York") == date(2023, 12, 31)  # 19:30 on Jan 1 there


def test_daily_job_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = Settings(store={"path": blocker / "ledger.db"})  # cannot create the database
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="ERROR", format="{message}")
    try:
        daily_report_job(settings, datetime(2024, 1, 2, 0, 5, tzinfo=UTC))
    finally:
        logger.remove(sink)
    assert any("daily report failed" in m for m in messages)


def test_daily_job_reports_yesterday(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    from report_ledger import write_fixed_ledger

    with Store(db) as store:
        write_fixed_ledger(store)
    daily_report_job(_settings(tmp_path, db), datetime(2024, 1, 2, 0, 5, tzinfo=UTC))
    assert (tmp_path / "reports" / "2024-01-01.md").is_file()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", (date(2024, 1, 1), date(2024, 1, 1))),
        ("2024-01-01..2024-01-07", (date(2024, 1, 1), date(2024, 1, 7))),
    ],
)
def test_parse_dates(text: str, expected: tuple[date, date]) -> None:
    assert parse_dates(text) == expected


def test_command_writes_files_and_prints_markdown(ledger: Store, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[report]\nout_dir = "{tmp_path / "reports"}"\n')
    args = ["report", "--config", str(config), "--db", str(ledger.path), "--date", "2024-01-01"]
    result = CliRunner().invoke(_app(), [*args, "--format", "md"])
    assert result.exit_code == 0, result.output
    golden = (Path(__file__).parent / "golden" / "fixed_ledger_2024-01-01.md").read_text()
    # The job asks the token presets for L (ftx: 3), so only the source column differs.
    assert result.stdout == golden.replace("| 3 (rebalances) |", "| 3 (preset) |")
    assert (tmp_path / "reports" / "2024-01-01.html").is_file()
    out = tmp_path / "r.html"
    result = CliRunner().invoke(_app(), [*args, "--format", "html", "--out", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    result = CliRunner().invoke(_app(), [*args, "--format", "text"])
    assert result.exit_code == 0 and "Who won" in result.stdout


def test_command_default_date_is_the_ledgers_last_complete_day(
    ledger: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixed ledger's last NAV row is at 2024-01-02 01:00: 2024-01-01 is its last whole day.
    monkeypatch.chdir(tmp_path)  # out_dir "reports" is relative
    result = CliRunner().invoke(_app(), ["report", "--db", str(ledger.path), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "2024-01-01.md").is_file()


def _not_a_ledger(tmp_path: Path) -> str:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2024-13-01"], "--date: month must be in 1..12"),
        (["--date", "yesterday"], "--date: expected YYYY-MM-DD"),
        (["--date", "2024-01-02..2024-01-01"], "is before its start"),
        (["--db", "{tmp}/missing.db"], "missing.db: no such database"),
        (["--db", "{other}"], "not an ltbot ledger"),
        (["--db", "{tmp}/config.toml"], "not a usable SQLite database"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "config.toml").write_text("this is not sqlite\n" * 10)
    other = _not_a_ledger(tmp_path)
    args = [a.format(tmp=tmp_path, other=other) for a in args]
    if "--db" not in args:
        args += ["--db", other]
    result = CliRunner().invoke(_app(), ["report", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()  # never created
    with sqlite3.connect(other) as conn:  # a foreign database is left untouched
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["t"]
    conn.close()
