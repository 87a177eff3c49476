"""Reports catch up (issue 15.5): missed days, atomic files, run coverage in the report."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from report_ledger import SPOT, write_fixed_ledger

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.domain.records import NavRecord
from bot.engine.ports import PortfolioStep, StepBatch
from bot.reports.coverage import RunCoverage, coverage_lines, coverage_notes, run_coverage
from bot.reports.job import (
    catch_up_reports,
    daily_report_job,
    load_report,
    missed_days,
    run_daily_report,
)
from bot.reports.model import period_for

JAN = [date(2024, 1, d) for d in range(1, 8)]


def _settings(tmp_path: Path) -> Settings:
    return Settings(report={"out_dir": tmp_path / "reports"}, store={"path": tmp_path / "l.db"})


def _ledger_to_jan_5(path: Path) -> None:
    # The fixed ledger (Dec 31 23:00 .. Jan 2 01:00) plus a spot NAV row at noon Jan 2..5.
    with Store(path) as store:
        write_fixed_ledger(store)
        for day in range(2, 6):
            at = datetime(2024, 1, day, 12, tzinfo=UTC)
            row = NavRecord(at, 10000.0 + day, 0.0, 10000.0 + day, 1.0, 100.0 + day)
            store.write_steps([StepBatch(portfolios=[PortfolioStep(SPOT, nav=[row])], at=at)])


def _files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "reports").iterdir())


def _reported(path: Path) -> list[str]:
    with Store(path) as store:
        return sorted({r["period"] for r in store.rows("report_metrics")})


def test_catch_up_writes_exactly_the_days_after_the_last_report(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    with Store(settings.store.path) as store:
        run_daily_report(store, settings, JAN[1])  # Jan 2 is the last report written

    written = catch_up_reports(settings, datetime(2024, 1, 7, 10, tzinfo=UTC))

    # Jan 1 is before the last report; Jan 6 has no data (the daemon was down all day).
    assert written == JAN[2:5]
    assert _files(tmp_path) == [
        f"2024-01-0{d}.{ext}" for d in range(2, 6) for ext in ("html", "md")
    ]
    assert _reported(settings.store.path) == [f"2024-01-0{d}" for d in range(2, 6)]
    assert catch_up_reports(settings, datetime(2024, 1, 7, 11, tzinfo=UTC)) == []


def test_without_any_report_catch_up_starts_at_the_first_nav_day(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    with Store(settings.store.path) as store:
        days = missed_days(store, "UTC", JAN[3])  # up to Jan 4
        tokyo = missed_days(store, "Asia/Tokyo", JAN[6])
    assert days == [date(2023, 12, 31), *JAN[:4]]
    # Dec 31 23:00Z is Jan 1 08:00 in Tokyo; Jan 5 12:00Z is Jan 5 21:00 there.
    assert tokyo == JAN[:5]


def test_a_range_report_is_not_a_daily_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    with Store(settings.store.path) as store:
        from bot.reports.job import run_report

        run_report(store, settings, JAN[0], JAN[4])  # `ltbot report --date 2024-01-01..05`
        assert missed_days(store, "UTC", JAN[4])[1:] == JAN[:5]


def test_catch_up_of_an_empty_ledger_writes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert catch_up_reports(settings, datetime(2024, 1, 7, tzinfo=UTC)) == []
    assert not (tmp_path / "reports").exists()


def test_daily_job_also_writes_the_days_it_missed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    with Store(settings.store.path) as store:
        run_daily_report(store, settings, JAN[1])
    daily_report_job(settings, datetime(2024, 1, 5, 0, 5, tzinfo=UTC))  # reports Jan 4
    assert _reported(settings.store.path) == ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_a_failed_rename_leaves_no_partial_file_and_the_day_is_caught_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if str(dst).endswith(".html"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with Store(settings.store.path) as store, pytest.raises(OSError):
        run_daily_report(store, settings, JAN[0])
    monkeypatch.setattr(os, "replace", real_replace)

    # The .md is whole, the .html was never there, no temporary file stays, no metrics.
    assert _files(tmp_path) == ["2024-01-01.md"]
    assert _reported(settings.store.path) == []
    md = (tmp_path / "reports" / "2024-01-01.md").read_bytes()
    assert catch_up_reports(settings, datetime(2024, 1, 2, 9, tzinfo=UTC)) == [
        date(2023, 12, 31),
        JAN[0],
    ]
    assert (tmp_path / "reports" / "2024-01-01.md").read_bytes() == md
    assert "2024-01-01.html" in _files(tmp_path)
    assert "2024-01-01" in _reported(settings.store.path)


def test_catch_up_sweeps_the_temporary_files_of_a_killed_write(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    out = tmp_path / "reports"
    out.mkdir()
    (out / ".2024-01-01.html.k3j_x9.tmp").write_text("<html><bo")
    (out / ".notes.tmp").write_text("someone else's")
    catch_up_reports(settings, datetime(2024, 1, 2, tzinfo=UTC))
    assert _files(tmp_path) == [".notes.tmp"]


# -- run coverage --------------------------------------------------------------------------

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _step(store: Store, at: datetime) -> None:
    store.write_steps([StepBatch(at=at)])


def test_each_committed_step_moves_the_run_coverage(tmp_path: Path) -> None:
    with Store(tmp_path / "l.db") as store:
        _step(store, T0 - timedelta(hours=1))  # before any run: no run to move
        run_id = store.start_run(T0, "replay", "binanceusdm", {}, "0")
        [fresh] = run_coverage(store)
        for hours in (1, 2, 3):
            _step(store, T0 + timedelta(hours=hours))
        [partial] = run_coverage(store)
        store.end_run(run_id, T0 + timedelta(hours=3))
        [complete] = run_coverage(store)
    assert fresh == RunCoverage(run_id, "replay", T0, None, None)
    assert partial.covered_to == T0 + timedelta(hours=3) and partial.partial
    assert partial.describe() == (
        "run 1 (replay): PARTIAL, covers 2024-03-01 00:00 to 2024-03-01 03:00 UTC "
        "(interrupted before the end of its data)"
    )
    assert fresh.describe().endswith(
        "started 2024-03-01 00:00 UTC, no step committed (interrupted before the end of its data)"
    )
    assert complete.complete and not complete.partial
    assert complete.describe() == (
        "run 1 (replay): complete, covers 2024-03-01 00:00 to 2024-03-01 03:00 UTC"
    )


def test_a_step_that_fails_does_not_move_the_coverage(tmp_path: Path) -> None:
    with Store(tmp_path / "l.db") as store:
        store.start_run(T0, "live", "binanceusdm", {}, "0")
        _step(store, T0 + timedelta(minutes=1))
        bad = PortfolioStep("no-such-portfolio", nav=[NavRecord(T0, 1, 1, 0, 0, 1)])
        with pytest.raises(Exception, match="FOREIGN KEY"):
            store.write_steps([StepBatch(portfolios=[bad], at=T0 + timedelta(minutes=2))])
        [run] = run_coverage(store)
    assert run.covered_to == T0 + timedelta(minutes=1)
    assert run.describe() == (
        "run 1 (live): covers 2024-03-01 00:00 to 2024-03-01 00:01 UTC "
        "(still running, or stopped without a clean end)"
    )


def test_status_lines_name_the_latest_run_and_every_partial_replay(tmp_path: Path) -> None:
    with Store(tmp_path / "l.db") as store:
        assert coverage_lines(store) == ["no run recorded in this ledger"]
        store.start_run(T0, "replay", "binanceusdm", {}, "0")  # killed before any step
        live = store.start_run(T0 + timedelta(days=1), "live", "binanceusdm", {}, "0")
        _step(store, T0 + timedelta(days=1, minutes=1))
        store.end_run(live, T0 + timedelta(days=1, minutes=2))
        lines = coverage_lines(store)
    assert lines == [
        "run 2 (live): covers 2024-03-02 00:00 to 2024-03-02 00:01 UTC, stopped cleanly at "
        "2024-03-02 00:02 UTC",
        "run 1 (replay): PARTIAL, started 2024-03-01 00:00 UTC, no step committed "
        "(interrupted before the end of its data)",
    ]


def test_a_report_past_a_partial_replay_says_where_its_data_ends(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _ledger_to_jan_5(settings.store.path)
    with Store(settings.store.path) as store:
        store.start_run(datetime(2023, 12, 31, 23, tzinfo=UTC), "replay", "x", {}, "0")
        _step(store, datetime(2024, 1, 3, 6, tzinfo=UTC))
        inside = load_report(store, period_for(JAN[2], JAN[2], "UTC")).notes
        after = load_report(store, period_for(JAN[4], JAN[4], "UTC")).notes
        before = load_report(store, period_for(JAN[1], JAN[1], "UTC")).notes
    assert inside == (
        "The ledger's run 1 (replay): PARTIAL, covers 2023-12-31 23:00 to 2024-01-03 06:00 UTC "
        "(interrupted before the end of its data); its coverage ends inside this window: the "
        "rest of it has no data.",
    )
    assert after[0].endswith("before this window: it holds no step of the ledger's last run.")
    assert before == ()  # the run covers the whole of Jan 2


def test_no_note_without_runs_or_after_a_clean_end() -> None:
    start, end = T0, T0 + timedelta(days=1)
    done = RunCoverage(1, "replay", T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2))
    assert coverage_notes([], start, end) == []
    killed_at_once = RunCoverage(1, "replay", T0, None, None)
    assert coverage_notes([killed_at_once], start, end) == [
        "The ledger's run 1 (replay): PARTIAL, started 2024-03-01 00:00 UTC, no step committed "
        "(interrupted before the end of its data)."
    ]
    assert coverage_notes([done], start, end) == []
