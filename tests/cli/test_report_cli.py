"""`ltbot report` (issue 17 point 4) through the real app: the default day is the ledger's last
complete day, the range and run are named, `--out` is the only file written, a range without
data exits 2 with one line, and its log lines mask the config's secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import __version__
from bot.adapters.sqlite.store import Store
from bot.cli.main import app
from bot.domain.records import NavRecord
from bot.engine.ports import PortfolioRow, PortfolioStep, StepBatch
from tests.reports.report_ledger import write_fixed_ledger

# The fixed ledger's NAV rows run from 2023-12-31 23:00 to 2024-01-02 01:00 (UTC).
FIRST, LAST = datetime(2023, 12, 31, 23, tzinfo=UTC), datetime(2024, 1, 2, 1, tzinfo=UTC)
RUN = "run 1 (replay): complete, covers 2023-12-31 23:00 to 2024-01-02 01:00 UTC"
WINDOW = "2024-01-01 (2024-01-01 00:00 to 2024-01-02 00:00 UTC)"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixed report ledger written by one complete replay run; cwd is `tmp_path`."""
    monkeypatch.chdir(tmp_path)  # the default out_dir "reports" is relative
    path = tmp_path / "ledger.db"
    with Store(path) as store:
        run_id = store.start_run(FIRST, "replay", "binanceusdm", {}, __version__)
        write_fixed_ledger(store)
        store.end_run(run_id, LAST)
    return path


def _report(*args: str, config: Path | None = None) -> tuple[int, str, str]:
    head = ["report"] if config is None else ["report", "-c", str(config)]
    result = CliRunner().invoke(app, [*head, *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_default_day_is_the_last_complete_day_of_the_ledger(db: Path, tmp_path: Path) -> None:
    # Data up to 2024-01-02 01:00: 2024-01-01 is the last whole day (not the wall clock's
    # yesterday).
    code, out, err = _report("--db", str(db), "--format", "md", "-q")
    assert code == 0, err
    assert err == f"report {WINDOW}; {RUN}\n"
    assert out.startswith("# ltbot report 2024-01-01\n")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "2024-01-01.html",
        "2024-01-01.md",
    ]


def test_out_is_the_only_file_written(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "day.md"
    code, stdout, err = _report("--db", str(db), "--format", "md", "--out", str(out))
    assert code == 0, err
    assert err.splitlines() == [
        f"report {WINDOW}; {RUN}",
        f"report 2024-01-01 written to {out}",
    ]
    assert stdout == ""
    assert out.read_text(encoding="utf-8").startswith("# ltbot report 2024-01-01\n")
    assert not (tmp_path / "reports").exists()
    with Store.open_ledger(db) as store:
        assert store.count("report_metrics") == 0  # nothing stored either


def test_a_range_without_data_exits_2_with_one_line(db: Path) -> None:
    code, out, err = _report("--db", str(db), "--date", "2024-02-01..2024-02-03")
    assert (code, out) == (2, "")
    assert err == (
        f"error: {db}: no data for 2024-02-01..2024-02-03 (2024-02-01 00:00 to 2024-02-04 00:00 "
        f"UTC): it holds 2023-12-31 23:00 to 2024-01-02 01:00 UTC; latest {RUN}\n"
    )


def test_a_ledger_without_a_complete_day_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    Store(path).close()
    code, _, err = _report("--db", str(path))
    assert code == 2
    assert err == f"error: {path}: no data in the ledger yet (no step committed)\n"


def test_report_log_lines_mask_the_configs_secrets(db: Path, tmp_path: Path) -> None:
    # A secret that happens to appear in a log line (here: in the out_dir's path).
    config = tmp_path / "config.toml"
    config.write_text(
        f'[report]\ntelegram_chat_id = "987654321"\nout_dir = "{tmp_path / "987654321"}"\n',
        encoding="utf-8",
    )
    code, _, err = _report("--db", str(db), "--format", "md", config=config)
    assert code == 0, err
    assert "987654321" not in err
    [written] = [line for line in err.splitlines() if "INFO" in line]
    assert written.endswith(
        f"INFO    report 2024-01-01 written: {tmp_path}/***/2024-01-01.md and "
        f"{tmp_path}/***/2024-01-01.html"
    )
    assert (tmp_path / "987654321" / "2024-01-01.md").is_file()


def test_a_ledger_within_one_day_has_no_complete_day_yet(tmp_path: Path) -> None:
    # NAV rows at 05:00 and 10:00 of 2024-01-01 only: no day has ended inside the ledger.
    path = tmp_path / "young.db"
    with Store(path) as store:
        store.upsert_portfolios([PortfolioRow("p/spot", "p", "spot", "hold", "BTC/USDT", 1000.0)])
        navs = [
            NavRecord(datetime(2024, 1, 1, h, tzinfo=UTC), 1000.0, 1000.0, 0.0, 0.0, 1.0)
            for h in (5, 10)
        ]
        store.write_steps([StepBatch(portfolios=[PortfolioStep("p/spot", nav=navs)])])
    code, _, err = _report("--db", str(path))
    assert code == 2
    assert err == (
        f"error: {path}: no complete day in the ledger yet: it holds 2024-01-01 05:00 to "
        "2024-01-01 10:00 UTC\n"
    )


def test_the_export_formats_round_trip_through_pandas(db: Path, tmp_path: Path) -> None:
    import json

    import pandas as pd

    # Act: json on stdout, json and csv files, csv without a directory
    code, out, err = _report("--db", str(db), "--format", "json", "-q")
    assert code == 0, err
    document = json.loads(out)
    for fmt in ("json", "csv"):
        code, _, err = _report("--db", str(db), "--format", fmt, "--out", str(tmp_path / fmt))
        assert code == 0, err
        assert err.endswith(f"report 2024-01-01 exported to {tmp_path / fmt} (9 files)\n")
    code, _, err = _report("--db", str(db), "--format", "csv")
    # Assert: one table, three ways, the same frame; nothing written into reports/
    stdout_frame = pd.DataFrame(document["tables"]["portfolios"])
    json_frame = pd.read_json(tmp_path / "json" / "portfolios.json")
    csv_frame = pd.read_csv(tmp_path / "csv" / "portfolios.csv")
    assert document["schema"] == 1 and document["period"]["label"] == "2024-01-01"
    assert (
        list(stdout_frame.columns) == list(csv_frame.columns) == document["columns"]["portfolios"]
    )
    assert stdout_frame["nav_end"].tolist() == json_frame["nav_end"].tolist()
    assert csv_frame["nav_end"].round(6).tolist() == stdout_frame["nav_end"].round(6).tolist()
    assert (code, err) == (2, "error: --format csv writes one file per table: give --out DIR\n")
    assert not (tmp_path / "reports").exists()


def test_rank_by_orders_who_won(db: Path) -> None:
    import json

    ranks = {}
    for measure in ("return", "sharpe"):
        code, out, err = _report("--db", str(db), "--format", "json", "--rank-by", measure, "-q")
        assert code == 0, err
        rows = json.loads(out)["tables"]["portfolios"]
        assert {r["rank_by"] for r in rows} == {measure}
        ranks[measure] = rows
    by_return = sorted(ranks["return"], key=lambda r: (r["experiment"], r["rank"]))
    for experiment in {r["experiment"] for r in by_return}:
        returns = [r["return"] for r in by_return if r["experiment"] == experiment]
        assert returns == sorted(returns, reverse=True)  # best first
    code, _, err = _report("--db", str(db), "--rank-by", "luck")
    assert code == 2 and "luck" in err
