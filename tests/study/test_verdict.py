"""The verdict's statistics on hand-made result frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bot.study.verdict import judge, pair_names, wilson_interval


def test_wilson_interval_by_hand() -> None:
    # 0 of 10: centre = (0 + z^2/20) / (1 + z^2/10) = 0.19208 / 1.38416, half the same.
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(0.38416 / 1.38416)
    # 5 of 10: symmetric around 0.5, half = 1.96 * sqrt(0.025 + 0.0096040) / 1.38416.
    lo, hi = wilson_interval(5, 10)
    assert (lo + hi) / 2 == pytest.approx(0.5)
    assert hi - 0.5 == pytest.approx(1.96 * (0.025 + 0.009604) ** 0.5 / 1.38416, abs=1e-6)


def _row(cell: str, vehicle: str, nav: float, log: float | None, **regime: float) -> dict:
    return {
        "cell_id": cell, "vehicle": vehicle, "final_nav": nav, "log_return": log,
        "capital": 100.0, "fee_trading": 1.0, "fee_slippage": 0.5, "funding": 0.25, "stops": 2,
        "attr_decay": -0.01 if vehicle.startswith("token") else None,
        "attr_funding": None, "attr_management": None, "attr_rebalancing": None,
        "trend_efficiency": regime.get("trend", 0.5), "realised_vol": regime.get("vol", 0.5),
        "funding_mean": regime.get("funding", 0.0001),
    }  # fmt: skip


def test_pair_win_rate_gap_and_regimes() -> None:
    rows = []
    # Three cells: the token wins only the most trending one.
    for cell, trend, token_nav, perp_nav in (
        ("a", 0.1, 90, 100),
        ("b", 0.5, 95, 100),
        ("c", 0.9, 120, 100),
    ):
        rows.append(
            _row(
                cell,
                "token:ftx",
                token_nav,
                pd.NA if token_nav == 0 else math.log(token_nav / 100),
                trend=trend,
            )
        )
        rows.append(_row(cell, "perp:risk_pct=0.02", perp_nav, 0.0, trend=trend))
        rows.append(_row(cell, "perp_static:leverage=3", 100, 0.0, trend=trend))
    frame = pd.DataFrame(rows)
    assert pair_names(frame) == [("token:ftx", "perp:risk_pct=0.02")]
    (v,) = judge(frame)
    assert (v.cells, v.wins) == (3, 1)
    assert v.gap_median == pytest.approx(math.log(0.95))
    assert v.by_regime["trend_efficiency"] == {"low": (0, 1), "mid": (0, 1), "high": (1, 1)}
    assert v.attribution["attr_decay"] == pytest.approx(-0.01)
    assert v.attribution["perp_fees"] == pytest.approx(-0.015)  # (1 + 0.5) / 100, a cost
    assert v.attribution["perp_funding"] == pytest.approx(-0.0025)
    assert v.attribution["perp_stops"] == 2
