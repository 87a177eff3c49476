"""The verdict's statistics on hand-made result frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bot.study.verdict import CONTRIBUTIONS, judge, pair_names, time_blocks, wilson_interval


def test_wilson_interval_by_hand() -> None:
    # 0 of 10: centre = (0 + z^2/20) / (1 + z^2/10) = 0.19208 / 1.38416, half the same.
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(0.38416 / 1.38416)
    # 5 of 10: symmetric around 0.5, half = 1.96 * sqrt(0.025 + 0.0096040) / 1.38416.
    lo, hi = wilson_interval(5, 10)
    assert (lo + hi) / 2 == pytest.approx(0.5)
    assert hi - 0.5 == pytest.approx(1.96 * (0.025 + 0.009604) ** 0.5 / 1.38416, abs=1e-6)


TOKEN_TERMS = {"attr_decay": -0.05, "attr_rebalancing": -0.01, "attr_management": -0.002,
               "attr_funding": -0.003, "attr_subscription_redemption": -0.001}  # fmt: skip


def _token(cell: str, benchmark: float, trend: float) -> dict:
    log = benchmark + sum(TOKEN_TERMS.values())  # the attribution sums to the log return
    return {
        "cell_id": cell, "vehicle": "token:ftx", "final_nav": 100 * math.exp(log),
        "log_return": log, "benchmark_log": benchmark, **TOKEN_TERMS, "trend_efficiency": trend,
        "realised_vol": trend, "funding_mean": 0.0001,
    }  # fmt: skip


def _perp(cell: str, vehicle: str, trend: float) -> dict:
    # log return 0.02 after fees 1.5 USDT (-0.015 of capital) and funding 0.25 (-0.0025).
    return {
        "cell_id": cell, "vehicle": vehicle, "final_nav": 100 * math.exp(0.02),
        "log_return": 0.02, "capital": 100.0, "fee_trading": 1.0, "fee_slippage": 0.5,
        "funding": 0.25, "stops": 2, "trend_efficiency": trend, "realised_vol": trend,
        "funding_mean": 0.0001,
    }  # fmt: skip


def test_pair_win_rate_gap_regimes_and_attribution() -> None:
    rows = []
    # Three cells (trend efficiency 0.1, 0.5, 0.9); the token wins only the most trending one.
    for cell, trend, benchmark in (("a", 0.1, -0.05), ("b", 0.5, 0.0), ("c", 0.9, 0.3)):
        rows += [_token(cell, benchmark, trend), _perp(cell, "perp:risk_pct=0.02", trend)]
        rows.append(_perp(cell, "perp_static:leverage=3", trend))
    frame = pd.DataFrame(rows)
    frame["strategy"] = frame["cell_id"].map({"a": "hold", "b": "hold", "c": "sma_cross"})
    assert pair_names(frame) == [("token:ftx", "perp:risk_pct=0.02")]
    (v,) = judge(frame)
    assert (v.cells, v.wins) == (3, 1)
    # gaps: benchmark - 0.066 - 0.02 = -0.136, -0.086, +0.214
    assert v.gap_median == pytest.approx(-0.086)
    assert v.by_strategy == {"hold": (0, 2), "sma_cross": (1, 1)}
    assert v.by_regime["trend_efficiency"] == {"low": (0, 1), "mid": (0, 1), "high": (1, 1)}
    a = v.attribution
    assert a["gap"] == pytest.approx((-0.136 - 0.086 + 0.214) / 3)
    # exposure = benchmark - perp gross (0.02 + 0.015 + 0.0025 = 0.0375)
    assert a["exposure"] == pytest.approx((-0.05 + 0.0 + 0.3) / 3 - 0.0375)
    assert a["token_decay"] == pytest.approx(-0.05)
    assert (a["perp_fees"], a["perp_funding"]) == (pytest.approx(0.015), pytest.approx(0.0025))
    assert sum(a[k] for k in CONTRIBUTIONS) == pytest.approx(a["gap"])
    assert a["perp_stops"] == 2


def _cells(windows: list[tuple[str, str]], strategies: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"cell_id": f"{lo}|{hi}|{k}", "start": lo, "end": hi}
            for lo, hi in windows
            for k in range(strategies)
        ]
    )


def test_time_blocks_group_windows_that_overlap_the_first_of_their_block() -> None:
    # 90-day windows every 30 days: the windows starting on days 0, 30 and 60 overlap the
    # first one (which ends on day 90); the one starting on day 90 opens the next block.
    rolling = _cells(
        [("2024-01-01", "2024-03-31"), ("2024-01-31", "2024-04-30"),
         ("2024-03-01", "2024-05-30"), ("2024-03-31", "2024-06-29")],
        strategies=2,
    )  # fmt: skip
    assert time_blocks(rolling).tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    # Windows that only touch (end exclusive) are separate blocks.
    touching = _cells([("2024-01-01", "2024-01-15"), ("2024-01-15", "2024-01-29")])
    assert time_blocks(touching).tolist() == [0, 1]
    # No window columns: every cell stands alone.
    assert time_blocks(pd.DataFrame({"cell_id": ["a", "b"]})).tolist() == [0, 1]


def test_block_interval_counts_each_block_once_at_the_same_win_rate() -> None:
    # 3 blocks of 4 cells each (2 windows x 2 strategies); the token wins 6 of 12 cells.
    windows = [("2024-01-01", "2024-01-15"), ("2024-01-08", "2024-01-22"),
               ("2024-01-15", "2024-01-29"), ("2024-01-22", "2024-02-05"),
               ("2024-01-29", "2024-02-12"), ("2024-02-05", "2024-02-19")]  # fmt: skip
    rows = []
    for i, (lo, hi) in enumerate(windows):
        for k in range(2):
            cell, window = f"{lo}|{hi}|{k}", {"start": lo, "end": hi}
            benchmark = 0.3 if (i + k) % 2 else -0.05  # the token wins one cell in two
            rows.append({**_token(cell, benchmark, 0.5), **window})
            rows.append({**_perp(cell, "perp:risk_pct=0.02", 0.5), **window})
    (v,) = judge(pd.DataFrame(rows))
    assert (v.cells, v.wins, v.blocks) == (12, 6, 3)
    assert v.interval == wilson_interval(6, 12)
    assert v.block_interval == wilson_interval(1.5, 3)  # 50 % of 3 blocks
    # Wilson at p = 0.5, n = 3: 0.5 -+ 1.96 sqrt(0.25/3 + 0.9604/9) / (1 + 3.8416/3)
    half = 1.96 * math.sqrt(0.25 / 3 + 3.8416 / 36) / (1 + 3.8416 / 3)
    assert v.block_interval == pytest.approx((0.5 - half, 0.5 + half))
    assert v.block_interval[1] - v.block_interval[0] > v.interval[1] - v.interval[0]
