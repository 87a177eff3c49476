"""A study cell's metrics equal those computed from the full ledger of `ltbot replay`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sqlite.store import Store
from bot.adapters.sqlite.timefmt import parse_time
from bot.domain.records import NavRecord
from bot.reports import metrics
from bot.runtime.replay_driver import run_replay
from bot.study.fold import PortfolioFold
from bot.study.runner import check_study, open_study_file, plan_study
from bot.study.worker import cell_settings, run_cell
from tests.study.kit import SAMPLE, study_config


def fold_ledger(store: Store, pid: str, fold: PortfolioFold) -> dict[str, Any]:
    """Run the study's metric functions over one portfolio's ledger rows."""
    where, params = "portfolio_id = ?", [pid]
    events = [(parse_time(r["at"]), 0, r) for r in store.rows("fees", where, params, "id")]
    for at, _, r in events:
        fold.fee(at, r["kind"], r["amount"])
    for r in store.rows("fills", where, params, "id"):
        fold.fill(r["reason"])
    for r in store.rows("token_events", where, params, "id"):
        fold.token_event(r["kind"])
    for r in store.rows("nav", where, params, "at"):
        fold.nav(
            NavRecord(
                parse_time(r["at"]), r["nav"], r["cash"], r["exposure"], r["leverage"], r["price"]
            )
        )
    for r in store.rows("portfolio_deaths", where, params, "at"):
        fold.death(parse_time(r["at"]))
    return fold.result()


def test_cell_metrics_equal_the_metrics_of_the_replay_ledger(tmp_path: Path) -> None:
    # Arrange: one BTC cell (sma_cross 5/20 on 1h bars over 6 days of 5m data, 7 vehicles)
    config = study_config(
        tmp_path / "study.db",
        windows={"ranges": [["2024-03-04", "2024-03-10"]]},
        study={"data": str(SAMPLE), "symbols": ["BTC/USDT:USDT"], "db": "study.db"},
    )
    with open_study_file(config) as store:
        task = plan_study(config, store, check_study(config)).tasks[0]
    cell = task.cells[0]
    # Act: the study's cell, then `ltbot replay --from 2024-03-04 --to 2024-03-09`
    result = run_cell(task, cell)
    settings = cell_settings(task, cell)
    ledger = tmp_path / "replay.db"
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"path": ledger})}
    )
    feed = ReplayFeed.from_data_dir(SAMPLE, symbols=[cell.symbol], start=cell.start, end=cell.end)
    run_replay(settings, feed)
    # Assert: every vehicle's metrics, exactly
    by_vehicle = {row["vehicle"]: row for row in result.results}
    assert len(by_vehicle) == 7
    with Store(ledger) as store:
        for row in store.rows("portfolios"):
            label, pid = row["vehicle"], row["id"]
            mine = by_vehicle[label]
            target = None
            if label.startswith("token:"):
                target = _token_target(task, cell, label)
            fold = PortfolioFold(cell.start, cell.end, task.capital, target)
            expected = fold_ledger(store, pid, fold)
            assert {k: mine[k] for k in expected} == expected, label
            # ... and a few of them straight from the ledger, without the fold
            navs = [r["nav"] for r in store.rows("nav", "portfolio_id = ?", [pid], "at")]
            fees = store.rows("fees", "portfolio_id = ?", [pid], "id")
            assert mine["final_nav"] == navs[-1]
            assert mine["max_drawdown"] == metrics.max_drawdown([task.capital, *navs])
            assert mine["fee_trading"] == sum(f["amount"] for f in fees if f["kind"] == "trading")
            stops = store.rows("fills", "portfolio_id = ? AND reason = 'stop'", [pid])
            assert mine["stops"] == len(stops)
    assert sum(row["fills"] for row in result.results) > 7  # the strategy traded
    assert any(row["rebalances"] for row in result.results)  # and tokens rebalanced


def _token_target(task: Any, cell: Any, label: str) -> tuple[float, float]:
    from bot.study.worker import _target

    settings = cell_settings(task, cell)
    vehicle = next(v for v in settings.experiments[0].vehicles if v.label == label)
    target = _target(settings, vehicle)
    assert target is not None
    return target
