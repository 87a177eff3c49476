"""The entries of one engine step's timeline, and the new candles they are made from.

The engine (bot/engine/engine.py) puts every timed event, pending signal and price path of a
step on one timeline, sorts it by (time, kind) and runs it; the order at one instant is the
order of the kinds below (the engine's module docstring states the rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from bot.domain.price_path import bar_path, paired_bar_path
from bot.domain.values import Candle, Quote
from bot.engine.bars import timeframe_seconds
from bot.portfolios.protocol import PortfolioRunner, PricePoint, TimedEvent
from bot.strategy import Signal

# Timeline entry kinds, in their order at one instant.
FUNDING, VEHICLE_EVENT, SIGNAL, PRICE = 0, 1, 2, 3

ORDER = itemgetter(0, 1)
"""The sort key of a timeline entry: (at, kind)."""


class DueEvent(NamedTuple):
    """A portfolio's timed event on the timeline, with the runner that applies it."""

    runner: PortfolioRunner
    event: TimedEvent


class TimelineEntry(NamedTuple):
    """One entry of a step's timeline: funding (`key` a symbol, `payload` the rate), a
    vehicle's timed event (`key` a portfolio id, `payload` a DueEvent), a pending signal
    (`key` an experiment, `payload` (signal, price)) or a price path (`key` a symbol,
    `payload` its points); sorted by ORDER."""

    at: datetime
    kind: int
    key: str
    payload: Any


def merge_paths(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Sorted entries with each run of one symbol's price points joined into one path."""
    # A symbol's price points move only its own portfolios, so consecutive points of a symbol
    # with no other entry between them form one path, handed to each runner in one call.
    merged: list[TimelineEntry] = []
    open_paths: dict[str, list[PricePoint]] = {}
    for entry in entries:
        if entry.kind != PRICE:
            open_paths.clear()
            merged.append(entry)
        elif (path := open_paths.get(entry.key)) is not None:
            path.extend(entry.payload)
        else:
            open_paths[entry.key] = entry.payload
            merged.append(entry)
    return merged


def unseen_candles(candles: Sequence[Candle], after: datetime) -> list[Candle]:
    """The finest candles per symbol that open at or after the previous step (`after`): their
    prices were never seen as quotes."""
    if len(candles) == 1:  # the usual step: the rule below for one candle
        return [candles[0]] if candles[0].at >= after else []
    finest: dict[str, int] = {}
    for c in candles:
        seconds = timeframe_seconds(c.timeframe)
        finest[c.symbol] = min(finest.get(c.symbol, seconds), seconds)
    return [
        c for c in candles if c.at >= after and timeframe_seconds(c.timeframe) == finest[c.symbol]
    ]


class _Slot(Protocol):
    symbol: str


def signal_entries(
    pending: dict[str, Signal],
    slots: Mapping[str, _Slot],
    unseen: Sequence[Candle],
    fresh: Mapping[str, Quote],
) -> list[TimelineEntry]:
    """The entries of the pending signals (by experiment) that fill in this step, taken out of
    `pending`: at the open of the symbol's first new bar (`unseen`), else at the step's quote;
    with neither (no price this step) a signal stays pending."""
    opens: dict[str, Candle] = {}
    for candle in unseen:
        first = opens.get(candle.symbol)
        if first is None or candle.at < first.at:
            opens[candle.symbol] = candle
    entries = []
    for name, signal in list(pending.items()):
        symbol = slots[name].symbol
        if (bar := opens.get(symbol)) is not None:
            entries.append(TimelineEntry(bar.at, SIGNAL, name, (signal, bar.open)))
        elif (quote := fresh.get(symbol)) is not None:
            entries.append(TimelineEntry(quote.at, SIGNAL, name, (signal, quote.last)))
        else:
            continue
        del pending[name]
    return entries


def bar_points(candle: Candle, mark: Candle | None) -> list[PricePoint]:
    """A walked bar's points, all stamped with its open time: the last price's path, with the
    mark walking the mark candle of the same bar when there is one (`paired_bar_path`), else
    the last price standing in for the mark."""
    t = candle.at
    if mark is None:
        path = bar_path(candle.open, candle.high, candle.low, candle.close)
        end = len(path) - 1
        return [tuple.__new__(PricePoint, (t, p, p, i == 0, i == end)) for i, p in enumerate(path)]
    pairs = paired_bar_path(
        (candle.open, candle.high, candle.low, candle.close),
        (mark.open, mark.high, mark.low, mark.close),
    )
    end = len(pairs) - 1
    return [
        tuple.__new__(PricePoint, (t, p, m, i == 0, i == end)) for i, (p, m) in enumerate(pairs)
    ]
