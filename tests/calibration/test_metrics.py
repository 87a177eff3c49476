"""Fidelity figures on hand-worked numbers (bot/calibration/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bot.calibration.metrics import (
    block_bootstrap_median,
    block_indices,
    daily_log_returns,
    effective_beta,
    fidelity,
    terminal_ratio,
    tracking_error,
    window_errors,
)

DAYS = pd.date_range("2021-01-01", periods=4, freq="1D", tz="UTC")


def _series(logs: list[float], index: pd.DatetimeIndex = DAYS) -> pd.Series:
    return pd.Series(np.exp(logs), index=index)


def test_tracking_error_is_the_annualised_rms_of_daily_differences() -> None:
    # real log returns 0.10, 0.00, 0.20; simulated 0.05, 0.10, 0.10: differences 0.05, -0.10,
    # 0.10; mean square (0.0025 + 0.01 + 0.01) / 3 = 0.0075; x 365 days.
    real, sim = _series([0.0, 0.1, 0.1, 0.3]), _series([0.0, 0.05, 0.15, 0.25])
    assert tracking_error(real, sim) == pytest.approx(math.sqrt(0.0075 * 365))
    assert tracking_error(real, real) == 0.0


def test_a_steady_drift_is_a_tracking_error() -> None:
    # Every day 0.01 behind: RMS 0.01 (a standard deviation would say 0).
    real, sim = _series([0.0, 0.02, 0.04, 0.06]), _series([0.0, 0.01, 0.02, 0.03])
    assert tracking_error(real, sim) == pytest.approx(0.01 * math.sqrt(365))


def test_daily_returns_skip_a_missing_day() -> None:
    index = DAYS[[0, 1, 3]]  # 2021-01-03 missing: no return for 01-03 nor 01-04
    returns = daily_log_returns(_series([0.0, 0.1, 0.5], index))
    assert list(returns.index) == [DAYS[1]]
    assert returns.iloc[0] == pytest.approx(0.1)


def test_effective_beta_is_the_ols_slope() -> None:
    # token = 2 x underlying + 0.001 a day: slope 2; the intercept does not move it.
    under = np.cumsum([0.0, 0.01, -0.02, 0.03])
    token = np.cumsum([0.0, 0.021, -0.039, 0.061])
    assert effective_beta(_series(list(token)), _series(list(under))) == pytest.approx(2.0)


def test_terminal_ratio_is_simulated_over_real_growth() -> None:
    real = pd.Series([10.0, 12.0, 20.0, 20.0], index=DAYS)  # x2
    sim = pd.Series([1.0, 1.1, 1.2, 1.5], index=DAYS)  # x1.5
    assert terminal_ratio(real, sim) == pytest.approx(0.75)


def test_window_errors_over_two_days() -> None:
    # 2-day log returns: real 0.1, 0.2; simulated 0.15, 0.10 -> |errors| 0.05, 0.10.
    real, sim = _series([0.0, 0.1, 0.1, 0.3]), _series([0.0, 0.05, 0.15, 0.15])
    assert window_errors(real, sim, days=2).tolist() == pytest.approx([0.05, 0.10])


def test_bootstrap_interval_of_a_constant_is_the_constant() -> None:
    assert block_bootstrap_median(np.full(60, 0.07)) == pytest.approx((0.07, 0.07, 0.07))
    assert all(math.isnan(v) for v in block_bootstrap_median(np.array([])))


def test_no_interval_from_fewer_than_two_blocks() -> None:
    median, lo, hi = block_bootstrap_median(np.array([0.1] * 30 + [0.3] * 29))  # 59 < 2 x 30
    assert median == 0.1 and math.isnan(lo) and math.isnan(hi)


def test_bootstrap_blocks_are_runs_of_consecutive_indices() -> None:
    rows = block_indices(10, np.random.default_rng(1), draws=3, block=4)
    assert rows.shape == (3, 10)
    for row in rows:
        for start in (0, 4):  # blocks 0-3 and 4-7 of each row (8-9 begin the third)
            assert np.diff(row[start : start + 4]).tolist() == [1, 1, 1]
    assert rows.min() >= 0 and rows.max() <= 9


def test_fidelity_of_a_perfect_simulation() -> None:
    days = pd.date_range("2021-01-01", periods=100, freq="1D", tz="UTC")
    under = pd.Series(np.exp(np.sin(np.arange(100)) / 20), index=days)
    token = pd.Series(np.exp(2 * np.log(under.to_numpy())), index=days)
    figures = fidelity(token, token, under)
    assert figures.days == 99
    assert figures.tracking_error == 0.0
    assert figures.beta_sim == pytest.approx(2.0) and figures.beta_real == pytest.approx(2.0)
    assert (figures.window_error, figures.window_error_lo, figures.window_error_hi) == (0, 0, 0)
    assert figures.terminal_ratio == pytest.approx(1.0)
