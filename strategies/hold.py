"""`hold`: always long (or always short): the buy-and-hold reference for every vehicle."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams


class HoldParams(StrategyParams):
    """direction: "long" or "short". stop_pct: perp stop distance from the close (0.05 = 5 %)."""

    direction: Literal["long", "short"] = Field("long", description="side to hold")
    stop_pct: float = Field(0.05, gt=0, lt=1, description="perp stop distance (fraction)")


class Hold(Strategy[HoldParams]):
    """Always in the market in one direction; perps get a stop `stop_pct` away from the close.

    After a stop-out the next bar's signal re-enters, so a perp keeps risking `risk_pct` per
    trade while the token simply holds.
    """

    name = "hold"
    timeframe = "1h"
    Params = HoldParams

    def on_bar(self, history: HistoryView) -> Signal | None:
        params = self.params
        close = history.close[-1]
        if params.direction == "long":
            return Signal(Direction.LONG, stop=close * (1 - params.stop_pct))
        return Signal(Direction.SHORT, stop=close * (1 + params.stop_pct))
