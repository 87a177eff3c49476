"""`donchian_breakout`: enter on a close beyond the N-bar channel, exit on the M-bar channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams
from strategies.indicators import atr


class DonchianParams(StrategyParams):
    """entry: channel length in bars for breakouts; exit: shorter channel that ends a trade.
    stop: "atr" (atr_mult x ATR(atr_period) from the close) or "channel" (the exit channel's
    far side). allow_short: trade downside breakouts too."""

    entry: int = Field(20, ge=2, description="breakout channel (bars)")
    exit: int = Field(10, ge=1, description="exit channel (bars)")
    stop: Literal["atr", "channel"] = Field("atr", description="stop from ATR or channel")
    atr_period: int = Field(14, ge=1, description="ATR period (bars)")
    atr_mult: float = Field(2.0, gt=0, description="stop distance in ATRs")
    allow_short: bool = Field(True, description="trade downside breaks")

    @model_validator(mode="after")
    def _exit_shorter(self) -> DonchianParams:
        if self.exit >= self.entry:
            raise ValueError(f"exit ({self.exit}) must be shorter than entry ({self.entry})")
        return self


class DonchianBreakout(Strategy[DonchianParams]):
    """Turtle-style breakout: channels exclude the latest bar, so a close can break them."""

    name = "donchian_breakout"
    timeframe = "1h"
    Params = DonchianParams

    def __init__(self, params: DonchianParams | None = None, **values: object) -> None:
        super().__init__(params, **values)
        self._side = Direction.FLAT

    @property
    def warmup(self) -> int:
        return max(self.params.entry, self.params.atr_period) + 1

    def on_bar(self, history: HistoryView) -> Signal | None:
        p = self.params
        if len(history) < self.warmup:
            return None
        close, high, low = history.close[-1], history.high, history.low
        entry_hi, entry_lo = max(high.tail(p.entry + 1)[:-1]), min(low.tail(p.entry + 1)[:-1])
        exit_hi, exit_lo = max(high.tail(p.exit + 1)[:-1]), min(low.tail(p.exit + 1)[:-1])
        if close > entry_hi:
            self._side = Direction.LONG
        elif close < entry_lo and p.allow_short:
            self._side = Direction.SHORT
        elif (self._side is Direction.LONG and close < exit_lo) or (
            self._side is Direction.SHORT and close > exit_hi
        ):
            self._side = Direction.FLAT
        return self._signal(history, close, exit_lo, exit_hi)

    def _signal(self, history: HistoryView, close: float, lo: float, hi: float) -> Signal:
        p = self.params
        if self._side is Direction.FLAT:
            return Signal.flat()
        if p.stop == "channel":
            stop = lo if self._side is Direction.LONG else hi
            # a channel stop on the wrong side of the close would be invalid: fall back to ATR
            if (self._side is Direction.LONG and stop < close) or (
                self._side is Direction.SHORT and stop > close
            ):
                return Signal(self._side, stop=stop)
        distance = p.atr_mult * atr(history.high, history.low, history.close, p.atr_period)
        sign = 1 if self._side is Direction.LONG else -1
        return Signal(self._side, stop=close - sign * distance)
