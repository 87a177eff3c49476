"""One engine step, in the order of DESIGN.md, for live, replay and tests alike.

step(update): validate -> record -> timed events due in (previous t, t] -> price triggers at t
-> strategies on newly closed bars -> NAV snapshots -> one SQLite transaction.
The engine never reads the clock: `update.at` is the step's time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from loguru import logger

from bot.bars import BarAggregator, timeframe_seconds
from bot.domain.price_path import bar_path
from bot.domain.values import Candle, FundingRate, Quote
from bot.runner import PortfolioRunner, Records
from bot.strategy import History, Strategy
from bot.strategy_loader import StrategyHealth, safe_signal

NAV_EVERY = timedelta(hours=1)


class Update(Protocol):
    """What a feed hands the engine for one step (live poll or replay tick)."""

    at: datetime
    quotes: Sequence[Quote]
    candles: Sequence[Candle]
    funding: Sequence[FundingRate]


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What one step produced, ready for the store (see Engine.step)."""

    at: datetime
    quotes: list[Quote]
    candles: list[Candle]
    funding: list[FundingRate]
    portfolios: dict[str, tuple[Records, list[Any]]]
    rejected: list[tuple[str, str]]


@dataclass(slots=True)
class ExperimentSlot:
    """One experiment: its strategy, the bar history it sees, and its portfolios."""

    name: str
    symbol: str
    strategy: Strategy[Any]
    runners: list[PortfolioRunner]
    history: History
    aggregator: BarAggregator
    health: StrategyHealth = field(default_factory=StrategyHealth)


Validator = Callable[[Sequence[Quote]], tuple[list[Quote], list[tuple[str, str]]]]


@dataclass(slots=True)
class _PricePoint:
    at: datetime
    last: float
    mark: float


class Engine:
    """Drives every portfolio from market updates; see the module docstring for the order."""

    def __init__(self, experiments: Sequence[ExperimentSlot], validate: Validator) -> None:
        self.experiments = list(experiments)
        self.runners = [r for e in self.experiments for r in e.runners]
        self.validate = validate
        self.last_at: datetime | None = None
        self.last_quotes: dict[str, Quote] = {}
        self.last_nav_at: dict[str, datetime] = {}
        self.applied_funding: dict[str, datetime] = {}

    def step(self, update: Update) -> StepOutput:
        """Process one update; return everything to write for this step."""
        at = update.at
        quotes, rejected = self.validate(update.quotes)
        fresh = {q.symbol: q for q in quotes}
        points = self._price_points(update.candles, fresh)
        self._timed_events(at, points, update.funding, fresh)
        self._price_triggers(update.candles, fresh)
        self._strategies(at, update.candles, fresh)
        self.last_quotes.update(fresh)
        output = self._collect(at, update, quotes, rejected)
        self.last_at = at
        return output

    # -- 3. timed events -----------------------------------------------------------------

    def _timed_events(
        self,
        at: datetime,
        points: dict[str, list[_PricePoint]],
        settled: Sequence[FundingRate],
        fresh: dict[str, Quote],
    ) -> None:
        if self.last_at is None:
            return  # nothing is held before the first step
        due: list[tuple[datetime, int, str, PortfolioRunner | None, Any]] = []
        for symbol, (when, rate) in self._funding_due(at, settled).items():
            for t, r in zip(when, rate, strict=True):
                due.append((t, 0, symbol, None, r))
        for runner in self.runners:
            for event in runner.due_events(self.last_at, at):
                due.append((event.at, 1, runner.id, runner, event))
        # Time order; at equal times funding settles before fees and scheduled rebalances.
        for t, _, key, target, payload in sorted(due, key=lambda d: (d[0], d[1], d[2])):
            if target is None:
                self._settle_funding(key, t, payload, points)
            else:
                point = _latest_at_or_before(points.get(target.symbol, []), t)
                if point is not None:
                    target.apply_event(payload, point.last)

    def _funding_due(
        self, at: datetime, settled: Sequence[FundingRate]
    ) -> dict[str, tuple[list[datetime], list[float]]]:
        last_at = self.last_at or at
        by_symbol: dict[str, dict[datetime, float]] = defaultdict(dict)
        for symbol, quote in self.last_quotes.items():
            nxt = quote.next_funding_at
            # The predicted rate of the last quote stands in until the settled one is known.
            if nxt is not None and quote.funding_rate is not None and last_at < nxt <= at:
                by_symbol[symbol][nxt] = quote.funding_rate
        for rate in settled:
            if last_at < rate.at <= at:
                by_symbol[rate.symbol][rate.at] = rate.rate  # the settled rate wins
        result: dict[str, tuple[list[datetime], list[float]]] = {}
        for symbol, rates in by_symbol.items():
            applied = self.applied_funding.get(symbol)
            times = sorted(t for t in rates if applied is None or t > applied)
            result[symbol] = (times, [rates[t] for t in times])
        return result

    def _settle_funding(
        self, symbol: str, at: datetime, rate: float, points: dict[str, list[_PricePoint]]
    ) -> None:
        point = _latest_at_or_before(points.get(symbol, []), at)
        if point is None:
            logger.warning("funding {} at {} skipped: no price at or before it", symbol, at)
            return
        for runner in self.runners:
            if runner.symbol == symbol:
                runner.apply_funding(at, rate, point.mark)
        self.applied_funding[symbol] = at

    # -- 4. price triggers ---------------------------------------------------------------

    def _price_triggers(self, candles: Sequence[Candle], fresh: dict[str, Quote]) -> None:
        for symbol, path in self._trigger_paths(candles, fresh).items():
            runners = [r for r in self.runners if r.symbol == symbol]
            for point in path:
                for runner in runners:
                    runner.on_price(point.at, point.last, point.mark)

    def _trigger_paths(
        self, candles: Sequence[Candle], fresh: dict[str, Quote]
    ) -> dict[str, list[_PricePoint]]:
        paths: dict[str, list[_PricePoint]] = defaultdict(list)
        for candle in self._unseen_candles(candles):
            # Inside a bar the path is open -> nearer extreme -> farther extreme -> close
            # (DESIGN.md); with no mark candles, the last-price path stands in for the mark.
            for price in bar_path(candle.open, candle.high, candle.low, candle.close):
                paths[candle.symbol].append(_PricePoint(candle.at, price, price))
        for symbol, quote in fresh.items():
            paths[symbol].append(_PricePoint(quote.at, quote.last, quote.mark or quote.last))
        return paths

    def _unseen_candles(self, candles: Sequence[Candle]) -> list[Candle]:
        """Finest candles per symbol that lie wholly after the previous step: their prices
        were not seen as quotes (replay bars, or the gap while the daemon was down)."""
        if self.last_at is None:
            return []
        finest: dict[str, int] = {}
        for c in candles:
            seconds = timeframe_seconds(c.timeframe)
            finest[c.symbol] = min(finest.get(c.symbol, seconds), seconds)
        return sorted(
            (
                c
                for c in candles
                if c.at >= self.last_at and timeframe_seconds(c.timeframe) == finest[c.symbol]
            ),
            key=lambda c: (c.at, c.symbol),
        )

    def _price_points(
        self, candles: Sequence[Candle], fresh: dict[str, Quote]
    ) -> dict[str, list[_PricePoint]]:
        """Known prices by time for the timed events of this step: the previous quote,
        unseen candles (open at the open time, close at the close time), and the new quote."""
        points: dict[str, list[_PricePoint]] = defaultdict(list)
        for symbol, quote in self.last_quotes.items():
            points[symbol].append(_PricePoint(quote.at, quote.last, quote.mark or quote.last))
        for c in self._unseen_candles(candles):
            end = c.at + timedelta(seconds=timeframe_seconds(c.timeframe))
            points[c.symbol].append(_PricePoint(c.at, c.open, c.open))
            points[c.symbol].append(_PricePoint(end, c.close, c.close))
        for symbol, quote in fresh.items():
            points[symbol].append(_PricePoint(quote.at, quote.last, quote.mark or quote.last))
        for series in points.values():
            series.sort(key=lambda p: p.at)
        return points

    # -- 5. strategies -------------------------------------------------------------------

    def _strategies(self, at: datetime, candles: Sequence[Candle], fresh: dict[str, Quote]) -> None:
        for slot in self.experiments:
            quote = fresh.get(slot.symbol)
            if quote is None:
                continue  # no valid price now: act on the next step that has one
            signal = None
            for bar in self._closed_bars(slot, candles):
                slot.history.append(bar.at, bar.open, bar.high, bar.low, bar.close, bar.volume)
                signal = safe_signal(slot.strategy, slot.history.view(), slot.health, slot.name)
            if signal is not None:
                for runner in slot.runners:
                    runner.on_signal(at, signal, quote.last)

    def _closed_bars(self, slot: ExperimentSlot, candles: Sequence[Candle]) -> list[Candle]:
        mine = [c for c in candles if c.symbol == slot.symbol]
        exact = [c for c in mine if c.timeframe == slot.aggregator.timeframe]
        if exact:
            return sorted(exact, key=lambda c: c.at)
        target = slot.aggregator.seconds
        finer = [c for c in mine if timeframe_seconds(c.timeframe) < target]
        if not finer:
            return []
        finest = min(timeframe_seconds(c.timeframe) for c in finer)
        bars: list[Candle] = []
        for c in sorted(finer, key=lambda c: c.at):
            if timeframe_seconds(c.timeframe) == finest:
                bars.extend(slot.aggregator.add(c))
        return bars

    # -- 6. NAV and output ---------------------------------------------------------------

    def _collect(
        self,
        at: datetime,
        update: Update,
        quotes: list[Quote],
        rejected: list[tuple[str, str]],
    ) -> StepOutput:
        portfolios: dict[str, tuple[Records, list[Any]]] = {}
        for runner in self.runners:
            records = runner.drain()
            navs = []
            price = self._price(runner.symbol)
            last_nav = self.last_nav_at.get(runner.id)
            hourly = last_nav is None or _hour(at) > _hour(last_nav)
            if price is not None and (records or hourly):
                navs.append(runner.nav(at, price))
                self.last_nav_at[runner.id] = at
            if records or navs:
                portfolios[runner.id] = (records, navs)
        return StepOutput(
            at, quotes, list(update.candles), list(update.funding), portfolios, rejected
        )

    def _price(self, symbol: str) -> float | None:
        quote = self.last_quotes.get(symbol)
        return None if quote is None else quote.last


def _latest_at_or_before(points: list[_PricePoint], at: datetime) -> _PricePoint | None:
    best = None
    for point in points:
        if point.at <= at:
            best = point
        else:
            break
    return best


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)
