"""Liquidation on the mark inside a walked bar (MECHANICS §9): a replay walks the mark candle
alongside the last-price candle, so a last-price wick the mark does not follow liquidates
nothing (the real ETHUSDT 1h bar of 2020-03-13 02:00: last high 323.00, mark high 119.47)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from bot.adapters.ccxt.tiers import tiers_for
from bot.adapters.replay.feed import ReplayFeed
from bot.domain.perp import StaticPerpParams
from bot.domain.price_path import paired_bar_path
from bot.domain.sizing import default_rules
from bot.domain.values import Candle, Side
from bot.engine.timeline import bar_points
from bot.portfolios.accounts import AccountRunner
from bot.strategy import Direction, Signal

ETH = "ETH/USDT:USDT"
T0 = datetime(2020, 3, 13, 2, tzinfo=UTC)


def test_the_mark_walks_its_own_bar_in_the_order_of_the_last_price() -> None:
    # last: open 110, low 100 nearer than high 323 -> open, low, high, close
    pairs = paired_bar_path((110.0, 323.0, 100.0, 112.0), (111.0, 119.47, 101.0, 111.67))
    assert pairs == ((110.0, 111.0), (100.0, 101.0), (323.0, 119.47), (112.0, 111.67))
    # a point where neither moved is dropped
    assert paired_bar_path((1.0, 1.0, 1.0, 1.0), (2.0, 2.0, 2.0, 2.0)) == ((1.0, 2.0),)


def short_static() -> AccountRunner:
    runner = AccountRunner(
        "x/perp_static", "x", ETH, 10_000.0, StaticPerpParams(leverage=3), default_rules(ETH),
        tiers_for(ETH),
    )  # fmt: skip
    runner.on_signal(T0 - timedelta(hours=1), Signal(Direction.SHORT), 110.0)
    pos = runner.account.position
    assert pos is not None and pos.side is Side.SHORT and 140.0 < pos.liq_price < 150.0
    runner.drain()  # the entry's records
    return runner


def test_a_last_price_wick_the_mark_does_not_follow_liquidates_nothing() -> None:
    bar = Candle(ETH, "1h", T0, 110.0, 323.0, 100.0, 112.0, 1.0)
    calm = Candle(ETH, "1h", T0, 111.0, 119.47, 101.0, 111.67, 1.0)
    runner = short_static()
    runner.on_path(bar_points(bar, calm))
    assert runner.account.position is not None and runner.drain().fills == []
    # without the mark candle the last price stands in for the mark: liquidated on the wick
    runner = short_static()
    runner.on_path(bar_points(bar, None))
    assert runner.account.position is None
    assert [f.reason.value for f in runner.drain().fills] == ["liquidation"]


def _frame(opens: list[float], start: datetime) -> pd.DataFrame:
    dates = [start + timedelta(hours=i) for i in range(len(opens))]
    return pd.DataFrame(
        {
            "date": pd.to_datetime(dates, utc=True),
            "open": opens,
            "high": [o * 1.01 for o in opens],
            "low": [o * 0.99 for o in opens],
            "close": opens,
            "volume": [1.0] * len(opens),
        }
    )


def test_a_replay_of_same_timeframe_mark_klines_hands_the_mark_bars_to_the_engine(
    tmp_path: Path,
) -> None:
    futures = tmp_path / "futures"
    futures.mkdir()
    _frame([100.0, 101.0, 102.0], T0).to_feather(futures / "ETH_USDT_USDT-1h-futures.feather")
    _frame([100.5, 101.5, 102.5], T0).to_feather(futures / "ETH_USDT_USDT-1h-mark.feather")
    feed = ReplayFeed.from_data_dir(tmp_path, symbols=[ETH])
    updates = list(feed)
    assert [len(u.mark_bars) for u in updates] == [1, 1, 1]
    first = updates[0]
    assert first.mark_bars[0].at == first.candles[0].at == T0
    assert first.mark_bars[0].open == 100.5 and first.candles[0].open == 100.0
