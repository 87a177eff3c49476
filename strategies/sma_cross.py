"""`sma_cross`: long when the fast SMA is above the slow one, short (or flat) below."""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams
from strategies.indicators import atr, sma


class SmaCrossParams(StrategyParams):
    """fast, slow: SMA periods in bars (fast < slow). allow_short: go short below, else flat.
    atr_period, atr_mult: the perp stop sits atr_mult x ATR(atr_period) from the close."""

    fast: int = Field(20, ge=1, description="fast SMA period (bars)")
    slow: int = Field(50, ge=2, description="slow SMA period (bars)")
    allow_short: bool = Field(True, description="short below, else flat")
    atr_period: int = Field(14, ge=1, description="ATR period (bars)")
    atr_mult: float = Field(2.0, gt=0, description="stop distance in ATRs")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


class SmaCross(Strategy[SmaCrossParams]):
    """Trend following on two simple moving averages of the close, with an ATR stop."""

    name = "sma_cross"
    timeframe = "1h"
    Params = SmaCrossParams

    @property
    def warmup(self) -> int:
        return max(self.params.slow, self.params.atr_period + 1)

    def on_bar(self, history: HistoryView) -> Signal | None:
        p = self.params
        if len(history) < self.warmup:
            return None
        close = history.close
        distance = p.atr_mult * atr(history.high, history.low, close, p.atr_period)
        last = close[-1]
        if sma(close, p.fast) > sma(close, p.slow):
            return Signal(Direction.LONG, stop=last - distance)
        if p.allow_short:
            return Signal(Direction.SHORT, stop=last + distance)
        return Signal.flat()
