"""6.7 years of real 1h data through `ltbot replay` with config.example.toml: the isolated
margin money holds on the horizon where it used to break (issue 14: a perp at NAV -2,040 and a
liquidation loss of -10,609 on 10,000 of capital).

scripts/audit_margin.py checks the ledger: NAV >= 0 for every perp and perp_static row, no
position lost more than its margin + fees, margins and liquidation prices never NULL, and the
accounting identity to the cent. A tampered copy proves the audit can fail.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.audit_margin import audit
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    shared = REPO_ROOT.parent / "shared" / "data" / "binance_usdm" / "1h"
    if not shared.is_dir():
        pytest.skip(f"{shared} not present (needs ../shared/data beside the clone)")
    db = tmp_path_factory.mktemp("audit") / "replay.db"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--data", str(shared), "--config",
         str(REPO_ROOT / "config.example.toml"), "--db", str(db)],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return db, done.stdout


def test_every_perp_keeps_its_money_inside_its_margin(ledger: tuple[Path, str]) -> None:
    db, _ = ledger
    assert audit(db) == []
    with sqlite3.connect(db) as conn:
        # the audit had something to audit: perps that paid funding and were liquidated
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM fees GROUP BY kind").fetchall())
        assert kinds["funding"] > 10_000 and kinds["liquidation"] >= 2
        assert conn.execute("SELECT COUNT(*) FROM positions WHERE margin IS NULL "
                            "AND portfolio_id LIKE '%/perp%'").fetchone() == (0,)  # fmt: skip


def test_the_3x_static_perp_of_each_hold_experiment_is_liquidated_and_dies(
    ledger: tuple[Path, str],
) -> None:
    db, stdout = ledger
    # the replay's last line counts refusals per reason and names the dead, with the time
    fate = stdout.strip().splitlines()[-1]
    assert fate.startswith("entries refused: min_notional ")
    assert "btc-hold/perp_static:leverage=3 2019-11-22" in fate.split("; died: ")[1]
    with sqlite3.connect(db) as conn:
        for experiment in ("btc-hold", "eth-hold"):
            pid = f"{experiment}/perp_static:leverage=3"
            (liquidations,) = conn.execute(
                "SELECT COUNT(*) FROM fills WHERE portfolio_id = ? AND reason = 'liquidation'",
                [pid],
            ).fetchone()
            assert liquidations >= 1, pid
            # what the liquidation left cannot pay for the smallest order: dead, and said so
            (cause,) = conn.execute(
                "SELECT cause FROM portfolio_deaths WHERE portfolio_id = ?", [pid]
            ).fetchone()
            assert "cannot pay for the smallest order" in cause
            refused = conn.execute(
                "SELECT reason, SUM(count) FROM entry_refusals WHERE portfolio_id = ? "
                "GROUP BY reason",
                [pid],
            ).fetchall()
            # counted until it died (a dead portfolio's refusals are not counted again)
            assert refused and refused[0][0] == "min_notional" and refused[0][1] >= 1


def test_the_audit_finds_money_no_exchange_allows(ledger: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = ledger
    tampered = tmp_path / "tampered.db"
    shutil.copyfile(db, tampered)
    with sqlite3.connect(tampered) as conn:
        pid = "btc-hold/perp:risk_pct=0.05"
        conn.execute(
            "UPDATE nav SET nav = -5 WHERE portfolio_id = ? AND at = "
            "(SELECT MAX(at) FROM nav WHERE portfolio_id = ?)",
            [pid, pid],
        )
        conn.execute("UPDATE positions SET margin = NULL WHERE id = ?", [f"{pid}#1"])
    problems = audit(tampered)
    assert any("NAV -5.00 < 0" in p for p in problems)
    assert any("the ledger explains" in p for p in problems)
    assert any(p.startswith(f"{pid}#1: margin None") for p in problems)
