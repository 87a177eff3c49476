"""Reports read each portfolio's vehicle parameters from the ledger, as stored when the portfolio
was created, never from the config of the day the report is written."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from loguru import logger
from report_ledger import TOKEN, write_fixed_ledger

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings, load_settings
from bot.config.vehicles import parse_vehicle
from bot.domain.perp import PerpParams
from bot.domain.token_presets import token_spec
from bot.domain.values import Side
from bot.engine.ports import VehicleParams
from bot.reports.job import run_report
from bot.runtime.wiring import open_store, vehicle_params

DAY = date(2024, 1, 1)
CONFIG = """
[store]
path = "{tmp}/ledger.db"

[report]
out_dir = "{tmp}/reports"

[presets.ftx]
target_leverage = {leverage}

[[experiments]]
name = "btc-hold"
symbol = "BTC/USDT:USDT"
strategy = "hold"
capital = 10010
vehicles = ["token:ftx", "perp:risk_pct=0.02", "spot"]
"""


def _config(tmp_path: Path, leverage: float) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(tmp=tmp_path, leverage=leverage), encoding="utf-8")
    return load_settings(path)


def _metrics(store: Store, period: str) -> dict[tuple[str, str], float | None]:
    rows = store.rows("report_metrics", "period = ?", [period])
    return {(r["portfolio_id"], r["metric"]): r["value"] for r in rows}


def test_creation_stores_every_token_field_and_perp_parameter(tmp_path: Path) -> None:
    with open_store(_config(tmp_path, 2.5)) as store:
        stored = store.vehicle_params()
    ftx = {side: token_spec("ftx", side, {"target_leverage": 2.5}) for side in Side}
    assert stored[TOKEN] == VehicleParams("token", ftx)
    perp = dataclasses.asdict(PerpParams(risk_pct=0.02))
    assert stored["btc-hold/perp:risk_pct=0.02"].params == {**perp, "risk_bounds": [0.02, 0.05]}
    assert stored["btc-hold/spot"] == VehicleParams(
        "spot", params={"taker_fee": 0.001, "slippage_bps": 2.0}
    )


def test_a_report_keeps_its_numbers_when_the_config_changes(tmp_path: Path) -> None:
    # Arrange: the ledger is created with config A (ftx at 2.5x), the config file then says 3.5x
    settings_a = _config(tmp_path, 2.5)
    with open_store(settings_a) as store:
        write_fixed_ledger(store)
        before = run_report(store, settings_a, DAY, DAY)
        metrics_a = _metrics(store, DAY.isoformat())
    markdown_a = before.markdown.read_bytes()
    settings_b = _config(tmp_path, 3.5)
    warnings: list[str] = []
    sink = logger.add(warnings.append, level="WARNING", format="{message}")

    # Act: the daemon restarts with config B, and the report is written again
    try:
        with open_store(settings_b) as store:
            stored = store.vehicle_params()[TOKEN]
            after = run_report(store, settings_b, DAY, DAY)
            metrics_b = _metrics(store, DAY.isoformat())
    finally:
        logger.remove(sink)

    # Assert
    assert metrics_a[(TOKEN, "token_target_leverage")] == 2.5
    assert metrics_b == metrics_a
    assert after.markdown.read_bytes() == markdown_a
    assert stored.tokens[Side.LONG].target_leverage == 2.5  # never rewritten
    assert [w.rstrip("\n") for w in warnings] == [
        f"{TOKEN}: the config's vehicle parameters differ from those stored when the portfolio "
        "was created; it runs with the config's, reports keep the stored ones (a new "
        "experiment name starts a new portfolio)"
    ]


def test_a_ledger_written_before_vehicle_params_still_reports(tmp_path: Path) -> None:
    # Arrange: the fixed ledger as code before migration 0005 left it (no vehicle_params), and a
    # config whose [presets] would change ftx
    db = tmp_path / "old.db"
    with Store(db) as store:
        write_fixed_ledger(store)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DROP TABLE vehicle_params")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0005_vehicle_params'")
    settings = Settings(
        report={"out_dir": tmp_path / "reports"}, presets={"ftx": {"target_leverage": 2.0}}
    )

    # Act
    with Store.open_ledger(db) as store:
        output = run_report(store, settings, DAY, DAY)
        metrics = _metrics(store, DAY.isoformat())

    # Assert: the preset's default (ftx: 3x) and the label's overrides, and the report says so
    assert metrics[(TOKEN, "token_target_leverage")] == 3.0
    note = (
        f"No vehicle parameters stored for {TOKEN} (a ledger written before they were): token "
        "targets use the preset's defaults and the overrides in the vehicle label, not the "
        "[presets] config of the run."
    )
    assert output.report.notes == (note,)
    lines = output.markdown.read_text(encoding="utf-8").splitlines()
    escaped = note.replace("[", "\\[").replace("]", "\\]")
    assert lines[2].startswith("Window ") and lines[3:6] == ["", escaped, ""]


@pytest.mark.parametrize("label", ["token:ftx_hedge", "token:ftx:target_leverage=2", "spot"])
def test_vehicle_params_round_trip_through_json(label: str) -> None:
    params = vehicle_params(Settings(), parse_vehicle(label))
    assert VehicleParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params
