"""The strategy plug-in API: a base class, a parameter model, a read-only history, a signal.

A strategy sees closed bars of its timeframe up to "now" only (the history view has no way to
reach further) and returns a `Signal` or None (no opinion on this bar). The engine calls it
through `safe_signal`, so a strategy that raises or returns garbage costs that bar's signal and
nothing else.

API_VERSION history:
    1: `on_bar(history) -> Signal | None`; `Params` pydantic model; `timeframe` class attribute
       (an experiment's `timeframe` key overrides it per instance); `Signal.stop_pct`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict

API_VERSION = 1


class Direction(StrEnum):
    """What the strategy wants to hold."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


@dataclass(frozen=True, slots=True)
class Signal:
    """The strategy's wish for the next bar.

    The stop-loss of perpetual vehicles is required for long and short signals, given as
    exactly one of: `stop`, a price (USDT) below the close for longs, above it for shorts; or
    `stop_pct`, a fraction of the entry's fill price (0.04: a long's stop at fill x 0.96, a
    short's at fill x 1.04), resolved when the position opens. It is a price distance: it
    equals freqtrade's `stoploss = -0.04` at leverage 1 only, since freqtrade divides its
    stoploss by the leverage (persistence/trade_model.py, `adjust_stop_loss`), while the perp
    vehicle here derives its leverage from the risk sizing that uses this stop.
    `take_profit` is an optional price (USDT).
    """

    direction: Direction
    stop: float | None = None
    take_profit: float | None = None
    stop_pct: float | None = None

    @classmethod
    def flat(cls) -> Signal:
        """No position."""
        return cls(Direction.FLAT)


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SeriesView(Sequence[float]):
    """A read-only window on one column: index 0 is the oldest visible bar, -1 the latest."""

    __slots__ = ("_data", "_length")

    def __init__(self, data: list[float], length: int) -> None:
        self._data = data
        self._length = length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step > 0:  # the usual tail slice: no copy of the whole column
                return tuple(self._data[start:stop:step])
            return tuple(self._data[: self._length][index])
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("history index out of range (the future is not visible)")
        return self._data[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._data[: self._length])

    def tail(self, n: int) -> tuple[float, ...]:
        """The last `n` values (fewer if the history is shorter), oldest first."""
        start = max(0, self._length - n)
        return tuple(self._data[start : self._length])


class History:
    """Closed bars of one symbol and timeframe, as the engine has seen them so far.

    The engine appends bars; strategies get `view()`, which is frozen at the current length,
    so nothing a strategy holds can ever show a later bar.
    """

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self._at: list[datetime] = []
        self._cols: dict[str, list[float]] = {
            k: [] for k in ("open", "high", "low", "close", "volume")
        }

    def append(self, at: datetime, o: float, h: float, lo: float, c: float, v: float) -> None:
        """Add the next closed bar (open time `at`); bars must arrive in time order."""
        if self._at and at <= self._at[-1]:
            raise ValueError(f"bar at {at.isoformat()} is not after {self._at[-1].isoformat()}")
        self._at.append(at)
        cols = self._cols
        cols["open"].append(o)
        cols["high"].append(h)
        cols["low"].append(lo)
        cols["close"].append(c)
        cols["volume"].append(v)

    def __len__(self) -> int:
        return len(self._at)

    @property
    def last_at(self) -> datetime:
        """Open time of the latest bar (IndexError when empty)."""
        return self._at[-1]

    def view(self) -> HistoryView:
        """A read-only view of the bars seen so far."""
        return HistoryView(self, len(self._at))


class HistoryView:
    """What a strategy sees: columns up to the latest closed bar, no writes, no future.

    A column's view is made when it is read: the engine makes a view per bar and strategy,
    and most strategies read two or three of the five columns, or none."""

    __slots__ = ("symbol", "timeframe", "_cols", "_at", "_n")

    def __init__(self, history: History, length: int) -> None:
        self.symbol = history.symbol
        self.timeframe = history.timeframe
        self._cols = history._cols
        self._at = history._at
        self._n = length

    @property
    def open(self) -> SeriesView:
        """Open prices, oldest first."""
        return SeriesView(self._cols["open"], self._n)

    @property
    def high(self) -> SeriesView:
        """High prices, oldest first."""
        return SeriesView(self._cols["high"], self._n)

    @property
    def low(self) -> SeriesView:
        """Low prices, oldest first."""
        return SeriesView(self._cols["low"], self._n)

    @property
    def close(self) -> SeriesView:
        """Close prices, oldest first."""
        return SeriesView(self._cols["close"], self._n)

    @property
    def volume(self) -> SeriesView:
        """Volumes (base units), oldest first."""
        return SeriesView(self._cols["volume"], self._n)

    def __len__(self) -> int:
        return self._n

    @property
    def at(self) -> datetime:
        """Open time of the latest visible bar."""
        if self._n == 0:
            raise IndexError("empty history")
        return self._at[self._n - 1]


P = TypeVar("P", bound=StrategyParams)


class Strategy(ABC, Generic[P]):
    """Base class of every strategy plug-in.

    Subclasses set `name`, `timeframe`, a `Params` model (subclass of StrategyParams) and
    implement `on_bar`. `warmup` is the number of closed bars needed before a signal is useful.
    """

    API_VERSION: ClassVar[int] = API_VERSION
    name: ClassVar[str] = ""
    # The class's bar timeframe; `[[experiments]] timeframe` sets it on one instance.
    timeframe: str = "1h"
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: P | None = None, **values: Any) -> None:
        self.params: P = params if params is not None else cast(P, self.Params(**values))

    @property
    def warmup(self) -> int:
        """Bars needed before the first signal (the engine uses it to size history)."""
        return 1

    @abstractmethod
    def on_bar(self, history: HistoryView) -> Signal | None:
        """Return the signal after the latest closed bar, or None for no change."""
