"""The prices the accepted quotes of each symbol went through, minute by minute, so a live
candle that contradicts them is held back (`bot.engine.candle_screen.CandleScreen`).

A closed candle's range holds every trade of its interval, so a last price the engine accepted
inside that interval must lie within it. A candle stamped with the wrong time (an exchange that
shifts its klines, the still-open bar passed off as a closed one: O=H=L=C, volume 0) or carrying
another market's prices does not. Pure; no clock reads: times are the step times of the quotes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain.values import Candle, Quote
from bot.engine.bars import timeframe_seconds

_MINUTE = 60
# How far an accepted quote may lie outside a candle's range: a last price is a trade of the
# interval, so only rounding (0.01 %, a tick or two). Our step time and the exchange's clock
# differ by a few seconds, so the first and last minute of a candle are not compared at all.
TOLERANCE = 0.0001
KEEP_SECONDS = 2 * 86_400  # minutes kept per symbol: a daily candle and a day of slack


class QuoteSpans:
    """Per symbol and UTC minute: the lowest and highest accepted last price."""

    def __init__(self) -> None:
        self._minutes: dict[str, dict[int, tuple[float, float]]] = {}
        self._seen: dict[str, datetime] = {}  # the last quote time observed per symbol

    def observe(self, quotes: Iterable[Quote]) -> None:
        """Take in the engine's last accepted quotes (each is counted once)."""
        for q in quotes:
            if self._seen.get(q.symbol) == q.at:
                continue
            self._seen[q.symbol] = q.at
            minutes = self._minutes.setdefault(q.symbol, {})
            minute = int(q.at.timestamp()) // _MINUTE
            lo, hi = minutes.get(minute, (q.last, q.last))
            minutes[minute] = (min(lo, q.last), max(hi, q.last))
            if len(minutes) > KEEP_SECONDS // _MINUTE:
                oldest = minute - KEEP_SECONDS // _MINUTE
                for m in [m for m in minutes if m < oldest]:
                    del minutes[m]

    def contradicts(self, candle: Candle) -> bool:
        """Whether a quote accepted inside the candle's interval (its first and last minute
        aside) lies outside its range by more than `TOLERANCE`."""
        minutes = self._minutes.get(candle.symbol)
        if not minutes:
            return False
        first = int(candle.at.timestamp()) // _MINUTE + 1
        last = first - 1 + timeframe_seconds(candle.timeframe) // _MINUTE - 1
        low, high = candle.low * (1 - TOLERANCE), candle.high * (1 + TOLERANCE)
        for minute in range(first, last):
            span = minutes.get(minute)
            if span is not None and (span[0] < low or span[1] > high):
                return True
        return False
