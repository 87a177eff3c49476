"""A synthetic perp and a token simulated on it with known parameters (fit and CLI tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.calibration.inputs import Market
from bot.calibration.pipeline import underlying_closes
from bot.simulate import simulate_token

START = pd.Timestamp("2021-01-01", tz="UTC")
BAR = pd.Timedelta(hours=4)


def synthetic_market(days: int = 90, seed: int = 7) -> Market:
    """4h candles of a random walk (4 % daily volatility) from 2000 USDT; no funding."""
    rng = np.random.default_rng(seed)
    count = days * 6
    steps = rng.normal(0.0, 0.04 / np.sqrt(6), size=(count, 3))
    close = 2000.0 * np.exp(np.cumsum(steps[:, 0]))
    open_ = np.concatenate([[2000.0], close[:-1]])
    wick = np.abs(steps[:, 1:]) * 0.5
    high = np.maximum(open_, close) * (1 + wick[:, 0])
    low = np.minimum(open_, close) * (1 - wick[:, 1])
    index = pd.date_range(START, periods=count, freq=BAR)
    candles = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=index)
    return Market(candles, None, BAR, "mark")


def token_closes(market: Market, preset: str, side: str, **params: float) -> pd.Series:
    """The token's price (10 USDT at launch) by close time, launched at the first open."""
    out = simulate_token(market.candles, preset, side, funding=market.funding, **params)
    values = 10.0 * out["value"]
    values.index = underlying_closes(market).index
    return pd.concat([pd.Series([10.0], index=[START]), values])
