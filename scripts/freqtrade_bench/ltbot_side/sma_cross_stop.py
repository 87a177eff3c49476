"""ltbot's twin of SmaCrossFt (../SmaCrossFt.py) for scripts/compare_freqtrade.py.

The shipped `sma_cross` puts its stop 2 ATR from the close; freqtrade's SmaCrossFt has a fixed
5 % stop. This strategy is SmaCrossFt in ltbot's plug-in API: 1h bars, long while
SMA(fast) > SMA(slow) of the close, short while below, no opinion when they are equal (freqtrade
then neither enters nor exits), and a stop `stop_pct` from the close of the signal bar, rounded
to the price tick the way freqtrade rounds its stop (`price_to_precision`: up for a long, down
for a short) when `tick` > 0. freqtrade anchors its stop at the fill price (`open_rate`), so the
two stops are the same price only when ltbot fills at that close (fill = "close"); with
fill = "next_open" ltbot's stop stays anchored at the signal bar's close (a strategy cannot see
the next open).

Loaded as `sma_cross_stop:SmaCrossStop` with this folder on PYTHONPATH. It lives in its own
folder so that freqtrade, which imports every module of `--strategy-path`, never sees it.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams
from strategies.indicators import sma


class SmaCrossStopParams(StrategyParams):
    """fast, slow: SMA periods in bars; stop_pct: stop distance from the close (fraction);
    tick: price tick the stop is rounded to, away from the close side (0 = no rounding)."""

    fast: int = Field(20, ge=1)
    slow: int = Field(50, ge=2)
    stop_pct: float = Field(0.05, gt=0, lt=1)
    tick: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossStopParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


def to_tick(price: float, tick: float, up: bool) -> float:
    """`price` rounded up or down to a multiple of `tick`, as freqtrade's
    exchange_utils.price_to_precision does for stops (decimal arithmetic on the float's text,
    then `round(float(str(result)), 14)`)."""
    if tick <= 0.0:
        return price
    step, exact = Decimal(repr(tick)), Decimal(repr(price))
    missing = exact % step
    if missing == 0:
        return price
    result = exact - missing + step if up else exact - missing
    return round(float(str(result)), 14)


class SmaCrossStop(Strategy[SmaCrossStopParams]):
    """SMA cross, long or short, with a fixed-percentage stop from the signal bar's close."""

    name = "sma_cross_stop"
    timeframe = "1h"
    Params = SmaCrossStopParams

    @property
    def warmup(self) -> int:
        return self.params.slow

    def on_bar(self, history: HistoryView) -> Signal | None:
        p = self.params
        if len(history) < p.slow:
            return None
        close = history.close
        fast, slow, last = sma(close, p.fast), sma(close, p.slow), close[-1]
        # freqtrade: stop = open_rate * (1 -/+ abs(stoploss / leverage)), leverage 1
        if fast > slow:
            return Signal(Direction.LONG, stop=to_tick(last * (1 - abs(p.stop_pct)), p.tick, True))
        if fast < slow:
            stop = to_tick(last * (1 + abs(p.stop_pct)), p.tick, False)
            return Signal(Direction.SHORT, stop=stop)
        return None
