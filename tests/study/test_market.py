"""Market data of study cells: loaded once per process, sliced into the replay's own feed."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.replay.feed import ReplayFeed
from bot.domain.values import Candle, FundingRate
from bot.engine.ports import MarketUpdate
from bot.study.market import measure_regime, symbol_data, window_updates
from tests.study.kit import BTC, ETH, SAMPLE


def test_a_symbol_is_loaded_once_per_process() -> None:
    assert symbol_data(SAMPLE, BTC) is symbol_data(SAMPLE, BTC)


@pytest.mark.parametrize("symbol", [BTC, ETH])
def test_a_window_gets_exactly_the_updates_of_a_replay_of_it(symbol: str) -> None:
    start = datetime(2024, 3, 10, tzinfo=UTC)
    end = start + timedelta(days=3)
    replay = list(ReplayFeed.from_data_dir(SAMPLE, symbols=[symbol], start=start, end=end))
    mine = window_updates(symbol_data(SAMPLE, symbol), start, end)
    assert mine == replay
    assert mine[0].quotes[0].mark is None  # the replay's basis starts at its first mark close
    assert any(u.funding for u in mine)


def test_regime_of_a_hand_made_window() -> None:
    # Bars open 100 and close 110, 99, 121 over 3 hours; funding settled at 0.0001 and 0.0003.
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    closes = [110.0, 99.0, 121.0]
    updates = [
        MarketUpdate(
            t0 + timedelta(hours=i + 1),
            candles=(
                Candle(
                    BTC,
                    "1h",
                    t0 + timedelta(hours=i),
                    100.0 if i == 0 else closes[i - 1],
                    130.0,
                    90.0,
                    c,
                    1.0,
                ),
            ),  # fmt: skip
            funding=(FundingRate(BTC, t0 + timedelta(hours=i + 1), 0.0001 + 0.0002 * i),)
            if i < 2
            else (),
        )
        for i, c in enumerate(closes)
    ]
    regime = measure_regime(updates, BTC, t0, t0 + timedelta(hours=3))
    moves = [math.log(1.1), math.log(0.9), math.log(121 / 99)]
    assert regime.underlying_return == pytest.approx(0.21)
    assert regime.trend_efficiency == pytest.approx(math.log(1.21) / sum(abs(m) for m in moves))
    year_over_window = 365 * 24 / 3
    assert regime.realised_vol == pytest.approx(
        math.sqrt(sum(m * m for m in moves) * year_over_window)
    )
    assert regime.funding_mean == pytest.approx(0.0002)
