"""The export (bot/reports/export.py): every table round-trips through one pandas call."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from report_ledger import PERP, TOKEN

from bot.adapters.sqlite.store import Store
from bot.reports.export import (
    COLUMNS,
    SCHEMA_VERSION,
    export_json,
    report_tables,
    write_export,
)
from bot.reports.model import LedgerRows, Report, build_report, period_for


def _report(store: Store) -> Report:
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    return build_report(
        LedgerRows.from_mapping(store.report_rows(period.start, period.end)), period
    )


def _frame(rows: list[dict[str, object]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(columns))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_every_table_round_trips_through_one_pandas_call(
    ledger: Store, tmp_path: Path, fmt: str
) -> None:
    report = _report(ledger)
    paths = write_export(report, tmp_path, fmt)  # type: ignore[arg-type]
    assert [p.name for p in paths] == ["meta.json"] + [f"{name}.{fmt}" for name in COLUMNS]
    tables = report_tables(report)
    for name, columns in COLUMNS.items():
        path = tmp_path / f"{name}.{fmt}"
        loaded = pd.read_json(path) if fmt == "json" else pd.read_csv(path)
        expected = _frame(tables[name], columns)
        if not tables[name]:
            assert len(loaded) == 0
            continue
        assert list(loaded.columns) == list(columns)
        pd.testing.assert_frame_equal(
            loaded, expected.astype(loaded.dtypes.to_dict()), check_exact=False, rtol=1e-15
        )


def test_trades_table_hand_worked(ledger: Store) -> None:
    trades = [r for r in report_tables(_report(ledger))["trades"] if r["portfolio_id"] == PERP]
    # p1: short 20 @ 100 at 01:00, stopped at 120 at 12:00 (ledger pnl -403.1); entry fees
    # 1.0 + 0.5, exit fees 1.2 + 0.6; funding received 0.2 at 08:00 (a cost < 0).
    first, second = trades
    assert first == {
        "portfolio_id": PERP, "opened_at": "2024-01-01T01:00:00+00:00",
        "closed_at": "2024-01-01T12:00:00+00:00", "side": "short", "qty": 20.0,
        "entry": 100.0, "exit": 120.0, "reason": "stop", "pnl": -403.1,
        "fees": pytest.approx(3.3), "funding": pytest.approx(-0.2), "hours": 11.0,
    }  # fmt: skip
    # p2: short 10 @ 114 at 20:00, still open at the end: entry fees 0.57 + 0.3.
    assert (second["closed_at"], second["reason"], second["pnl"], second["hours"]) == (
        None, "open", None, None,
    )  # fmt: skip
    assert second["fees"] == pytest.approx(0.87)


def test_meta_and_attribution(ledger: Store, tmp_path: Path) -> None:
    report = _report(ledger)
    write_export(report, tmp_path, "json")
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["schema"] == SCHEMA_VERSION
    assert meta["period"] == {
        "label": "2024-01-01", "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-01-02T00:00:00+00:00", "timezone": "UTC",
    }  # fmt: skip
    assert (meta["rank_by"], meta["nav_sampling"]) == ("sharpe", "hourly")
    assert meta["columns"]["trades"] == list(COLUMNS["trades"])
    [row] = json.loads((tmp_path / "attribution.json").read_text())
    assert row["portfolio_id"] == TOKEN
    terms = ("decay", "rebalancing", "management", "funding", "subscription_redemption")
    assert math.isclose(sum(row[t] for t in terms), row["gap"], abs_tol=1e-12)
    assert row["token_log"] == pytest.approx(math.log(11189.8 / 10000))
    navs = json.loads((tmp_path / "nav.json").read_text())
    assert len([r for r in navs if r["portfolio_id"] == TOKEN]) == 25  # hourly grid 00..24


def test_bad_format_is_refused(ledger: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="export format must be json or csv, not 'xml'"):
        write_export(_report(ledger), tmp_path, "xml")  # type: ignore[arg-type]


def test_one_document_holds_meta_and_every_table(ledger: Store, tmp_path: Path) -> None:
    report = _report(ledger)
    document = json.loads(export_json(report))
    write_export(report, tmp_path, "json")
    assert {k: v for k, v in document.items() if k != "tables"} == json.loads(
        (tmp_path / "meta.json").read_text()
    )
    for name in COLUMNS:
        assert document["tables"][name] == json.loads((tmp_path / f"{name}.json").read_text())
