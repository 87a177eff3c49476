"""Reverse-split rule on hand-made series (bot/calibration/splits.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from bot.calibration.splits import Split, detect_reverse_splits, undo_splits

INDEX = pd.date_range("2021-07-01", periods=6, freq="4h", tz="UTC")


def test_a_one_to_ten_reverse_split_is_found_and_undone() -> None:
    # 0.70 -> 7.20 is a 1:10 reverse split plus a +2.857 % market move (0.72 / 0.70).
    closes = pd.Series([1.0, 0.9, 0.8, 0.7, 7.2, 7.0], index=INDEX)
    splits = detect_reverse_splits(closes)
    assert splits == [Split(INDEX[4], 10.0, pytest.approx(7.2 / 0.7))]
    assert undo_splits(closes, splits).tolist() == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.72, 0.7])


def test_the_ratio_is_read_after_the_move_the_underlying_implies() -> None:
    # A 60x rise while the leverage implies x6 (a squeeze): 60 / 6 = 10, a 1:10 split. Without
    # the underlying, 60 would round to 1:100.
    closes = pd.Series([1.0, 1.0, 1.0, 60.0, 60.0, 60.0], index=INDEX)
    implied = pd.Series([1.0, 1.0, 1.0, 6.0, 1.0, 1.0], index=INDEX)
    assert [s.ratio for s in detect_reverse_splits(closes, implied)] == [10.0]
    assert [s.ratio for s in detect_reverse_splits(closes)] == [100.0]


@pytest.mark.parametrize(
    ("prices", "implied"),
    [
        ([1.0, 1.0, 4.9, 4.9, 4.9, 4.9], None),  # below the 5x jump examined
        ([1.0, 1.0, 6.0, 6.0, 6.0, 6.0], [1, 1, 3.0, 1, 1, 1]),  # 6 / 3 = 2 rounds to 10^0
        ([1.0, 1.0, 0.1, 0.1, 0.1, 0.1], None),  # a collapse is a market move, not a split
    ],
)
def test_market_moves_are_not_splits(prices: list[float], implied: list[float] | None) -> None:
    closes = pd.Series(prices, index=INDEX)
    moves = None if implied is None else pd.Series(implied, index=INDEX, dtype=float)
    assert detect_reverse_splits(closes, moves) == []
    assert undo_splits(closes, []).tolist() == prices
