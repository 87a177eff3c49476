"""One engine step, in the order of DESIGN.md, for live, replay and tests alike.

step(update): validate -> (the session records) -> timed events due in (previous t, t] and
price triggers, merged in time order -> strategies on newly closed bars -> NAV snapshots.
The engine never reads the clock: `update.at` is the step's time.

Timeline assumptions (stated once here, applied in `_timeline`):
- At one instant, timed events come before price triggers (DESIGN.md step 3 before step 4),
  and among timed events funding settles first, then each vehicle's own events.
- Candles that lie wholly after the previous step (replay bars, or the gap while the daemon was
  down) are walked open -> nearer extreme -> farther extreme -> close; all four points carry
  the bar's open time, so a timed event at the bar's close time comes after the whole bar.
  The mark walks the bar's mark candle alongside (`update.mark_bars`, replays of data with
  mark klines of the same timeframe: timeline.bar_points); without one the last-price path
  stands in for the mark.
- A timed event uses the latest known price at or before its own time: the previous quote, a
  walked bar's open (at its open time) or close (at its close time), or the new quote.
- Funding is paid on the mark price at the settlement time (MECHANICS §9: nominal = mark x
  size): the step's quote when it is stamped at the settlement (in replay the mark candle
  closing then), else the latest mark quote (the previous step's), else, with no mark data at
  all, the last price as above. A walked bar's points never serve: their mark is the last price.
- A signal fills at the close of its bar (the step's quote when the bar closed), or, for an
  experiment with `fill = "next_open"`, at the next step: at the open of the symbol's next bar,
  stamped with its open time, after the timed events of that instant and before the bar's path
  (so a new position's stop is checked along that very bar); without a new candle (live
  ticks), at that step's quote. Until then it is pending (kept in the resume state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from loguru import logger

from bot.domain.records import NavRecord
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.bars import BarAggregator, timeframe_seconds
from bot.engine.strategy_guard import StrategyHealth, safe_signal
from bot.engine.timeline import (
    FUNDING,
    ORDER,
    PRICE,
    SIGNAL,
    VEHICLE_EVENT,
    DueEvent,
    TimelineEntry,
    bar_points,
    merge_paths,
    signal_entries,
    unseen_candles,
)
from bot.portfolios.protocol import NO_RECORDS, PortfolioRunner, PricePoint, Records
from bot.strategy import History, Signal, Strategy


class Update(Protocol):
    """What a feed hands the engine for one step (live poll or replay tick)."""

    at: datetime
    quotes: Sequence[Quote]
    candles: Sequence[Candle]
    funding: Sequence[FundingRate]
    mark_bars: Sequence[Candle]


class PortfolioOutput(NamedTuple):
    """One portfolio's part of a step: its ledger records and its NAV snapshots."""

    records: Records
    navs: list[NavRecord]


class StepOutput(NamedTuple):
    """What one step produced, ready for the store (a named tuple built with `_new`: one per
    step, faster to build than a frozen dataclass, as `PortfolioOutput` and `NavRecord`)."""

    at: datetime
    quotes: list[Quote]
    candles: list[Candle]
    funding: list[FundingRate]
    portfolios: dict[str, PortfolioOutput]
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
    next_open: bool = False  # signals fill at the next bar's open (see the module docstring)


# (quotes, step time, the update's closed candles) -> (accepted, [(symbol, reason), ...]); the
# candles may corroborate a quote's jump (`bot.engine.validation.SnapshotValidator`).
Validator = Callable[
    [Sequence[Quote], datetime, Sequence[Candle]], tuple[list[Quote], list[tuple[str, str]]]
]

# Builds a named tuple from a plain one, as its `_make` does without the length check: the
# class call runs a Python-level __new__, several times slower on the per-step hot path.
_new = tuple.__new__


class Engine:
    """Drives every portfolio from market updates; see the module docstring for the order."""

    def __init__(self, experiments: Sequence[ExperimentSlot], validate: Validator) -> None:
        self.experiments = list(experiments)
        self._slots = {e.name: e for e in self.experiments}
        self.runners = [r for e in self.experiments for r in e.runners]
        # Runners that may have timed events of their own.
        self._timed = [r for r in self.runners if r.has_timed_events]
        self._by_symbol: dict[str, list[PortfolioRunner]] = {}
        self._paths: dict[str, list[Callable[[Sequence[PricePoint]], None]]] = {}
        for runner in self.runners:
            self._by_symbol.setdefault(runner.symbol, []).append(runner)
            self._paths.setdefault(runner.symbol, []).append(runner.on_path)
        self.validate = validate
        self._last_at: datetime | None = None
        self._last_quotes: dict[str, Quote] = {}
        self._last_nav_at: dict[str, datetime] = {}
        self._applied_funding: dict[str, datetime] = {}
        self._nav_hour: datetime | None = None  # the hour every runner has a NAV of
        self._pending: dict[str, Signal] = {}  # next_open signals by experiment, not yet filled

    @property
    def last_at(self) -> datetime | None:
        """The time of the last step (None before the first)."""
        return self._last_at

    @property
    def last_quotes(self) -> Mapping[str, Quote]:
        """The latest accepted quote per symbol (read-only)."""
        return MappingProxyType(self._last_quotes)

    # -- resume ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to resume (strategy histories are rebuilt: `replay_history`);
        `pending_signals` only when an experiment fills at the next open or one is pending."""
        state: dict[str, Any] = {
            "last_at": self._last_at,
            "last_quotes": self._last_quotes,
            "last_nav_at": self._last_nav_at,
            "applied_funding": self._applied_funding,
            "runners": {r.id: r.state() for r in self.runners},
        }
        if self._pending or any(e.next_open for e in self.experiments):
            state["pending_signals"] = dict(self._pending)
        return state

    def restore(self, state: dict[str, Any]) -> None:
        """Put a `state()` back into this freshly built engine with the same portfolios."""
        self._last_at = state["last_at"]
        self._last_quotes = dict(state["last_quotes"])
        self._last_nav_at = dict(state["last_nav_at"])
        self._applied_funding = dict(state["applied_funding"])
        pending: dict[str, Signal] = state.get("pending_signals", {})
        self._pending = {name: s for name, s in pending.items() if name in self._slots}
        for name in pending.keys() - self._slots.keys():
            logger.warning("experiment {} is gone since the last run: its signal is dropped", name)
        saved: dict[str, Any] = state["runners"]
        for runner in self.runners:
            if runner.id in saved:
                runner.restore(saved[runner.id])
            else:
                logger.warning("portfolio {} is new since the last run: starts fresh", runner.id)

    def replay_history(self, experiment: str, bars: Iterable[Candle]) -> None:
        """Refill the named experiment's bar history from recorded bars, showing each to its
        strategy (stateful ones need every bar; the signals were acted on before a restart)."""
        for slot in self.experiments:
            if slot.name != experiment:
                continue
            for bar in bars:
                slot.history.append(bar.at, bar.open, bar.high, bar.low, bar.close, bar.volume)
                safe_signal(slot.strategy, slot.history.view(), StrategyHealth(), slot.name)
            return
        raise ValueError(f"no experiment named {experiment!r}")

    def step(self, update: Update) -> StepOutput:
        """Process one update; return everything to write for this step."""
        at = update.at
        accepted, rejected = self.validate(update.quotes, at, update.candles)
        # Accepted quotes are stamped with the step time (our clock), so the recorded ticks
        # replay into the very same steps; the exchange's timestamp served validation.
        quotes = [q if q.at == at else replace(q, at=at) for q in accepted]
        fresh = {q.symbol: q for q in quotes}
        if self._last_at is not None:
            self._run_timeline(self._timeline(at, update, fresh), fresh)
        self._strategies(at, update.candles, fresh)
        self._last_quotes.update(fresh)
        output = self._collect(at, update, quotes, rejected)
        self._last_at = at
        return output

    # -- steps 3 and 4: timed events and price triggers, in time order ------------------

    def _timeline(
        self, at: datetime, update: Update, fresh: dict[str, Quote]
    ) -> list[TimelineEntry]:
        assert self._last_at is not None  # callers check; narrowing for mypy
        after = self._last_at
        entries: list[TimelineEntry] = []
        for symbol, times in self._funding_due(after, at, update.funding).items():
            entries += [TimelineEntry(t, FUNDING, symbol, rate) for t, rate in times]
        for runner in self._timed:
            due = runner.due_events(after, at)
            if due:
                entries += [
                    TimelineEntry(e.at, VEHICLE_EVENT, runner.id, DueEvent(runner, e)) for e in due
                ]
        unseen = unseen_candles(update.candles, after)
        if self._pending:
            entries += signal_entries(self._pending, self._slots, unseen, fresh)
        marks = {(m.symbol, m.at): m for m in update.mark_bars} if update.mark_bars else {}
        for candle in unseen:
            points = bar_points(candle, marks.get((candle.symbol, candle.at)) if marks else None)
            entries.append(_new(TimelineEntry, (candle.at, PRICE, candle.symbol, points)))
        for symbol, quote in fresh.items():
            point = _new(PricePoint, (quote.at, quote.last, quote.mark or quote.last, True, True))
            entries.append(_new(TimelineEntry, (quote.at, PRICE, symbol, [point])))
        # A stable sort keeps each bar's path in order.
        entries.sort(key=ORDER)
        return merge_paths(entries)

    def _run_timeline(self, entries: list[TimelineEntry], fresh: dict[str, Quote]) -> None:
        known: dict[str, PricePoint] = {}  # the last point walked per symbol in this step
        for at, kind, key, payload in entries:
            if kind == PRICE:
                for on_path in self._paths.get(key, ()):
                    on_path(payload)
                # a bar's close is known at its close time; until then its open stands
                known[key] = payload[-1]
            elif kind == FUNDING:
                self._settle_funding(key, at, payload, self._funding_mark(key, at, fresh, known))
            elif kind == SIGNAL:
                signal, price = payload
                for runner in self._slots[key].runners:
                    runner.on_signal(at, signal, price)
            else:
                runner, event = payload
                price = known.get(runner.symbol) or self._quoted(runner.symbol)
                if price is None:
                    logger.warning("{} {} at {} skipped: no price yet", runner.id, event.kind, at)
                    continue
                runner.apply_event(event, price.last)

    def _quoted(self, symbol: str) -> PricePoint | None:
        # The previous step's quote: the price at or before a timed event that comes before
        # any point of this step's path.
        quote = self._last_quotes.get(symbol)
        if quote is None:
            return None
        return PricePoint(quote.at, quote.last, quote.mark or quote.last, True, True)

    def _funding_due(
        self, after: datetime, at: datetime, settled: Sequence[FundingRate]
    ) -> dict[str, list[tuple[datetime, float]]]:
        rates: dict[str, dict[datetime, float]] = {}
        for symbol, quote in self._last_quotes.items():
            nxt = quote.next_funding_at
            # The predicted rate of the last quote stands in until the settled one is known.
            if nxt is not None and quote.funding_rate is not None and after < nxt <= at:
                rates.setdefault(symbol, {})[nxt] = quote.funding_rate
        for rate in settled:
            if after < rate.at <= at:
                rates.setdefault(rate.symbol, {})[rate.at] = rate.rate  # the settled rate wins
        due: dict[str, list[tuple[datetime, float]]] = {}
        for symbol, by_time in rates.items():
            applied = self._applied_funding.get(symbol)
            due[symbol] = [
                (t, by_time[t]) for t in sorted(by_time) if applied is None or t > applied
            ]
        return due

    def _funding_mark(
        self, symbol: str, at: datetime, fresh: dict[str, Quote], known: dict[str, PricePoint]
    ) -> float | None:
        # The mark at the settlement time (module docstring; MECHANICS §9).
        quote = fresh.get(symbol)
        if quote is not None and quote.at == at and quote.mark is not None:
            return quote.mark
        previous = self._last_quotes.get(symbol)
        if previous is not None and previous.mark is not None:
            return previous.mark
        point = known.get(symbol) or self._quoted(symbol)  # no mark data: the last price
        return None if point is None else point.last

    def _settle_funding(self, symbol: str, at: datetime, rate: float, mark: float | None) -> None:
        if mark is None:
            logger.warning("funding {} at {} skipped: no price at or before it", symbol, at)
            return
        for runner in self._by_symbol.get(symbol, ()):
            runner.apply_funding(at, rate, mark)
        self._applied_funding[symbol] = at

    # -- step 5: strategies --------------------------------------------------------------

    def _strategies(self, at: datetime, candles: Sequence[Candle], fresh: dict[str, Quote]) -> None:
        for slot in self.experiments:
            signal = None
            for bar in self._closed_bars(slot, candles):
                if len(slot.history) and bar.at <= slot.history.last_at:
                    # Already seen: e.g. a bar built from finer candles when the exchange's
                    # own bar of that time came in an earlier step (exact bars win).
                    logger.debug("{}: bar at {} already in the history", slot.name, bar.at)
                    continue
                slot.history.append(bar.at, bar.open, bar.high, bar.low, bar.close, bar.volume)
                signal = safe_signal(slot.strategy, slot.history.view(), slot.health, slot.name)
            if signal is not None and slot.next_open:
                # held for the next bar's open (a plain Signal: the resume state rebuilds it)
                self._pending[slot.name] = Signal(
                    signal.direction, signal.stop, signal.take_profit, signal.stop_pct
                )
                continue
            quote = fresh.get(slot.symbol)
            if signal is None or quote is None:
                continue  # no new bar, no opinion, or no valid price to act at
            for runner in slot.runners:
                runner.on_signal(at, signal, quote.last)

    @staticmethod
    def _closed_bars(slot: ExperimentSlot, candles: Sequence[Candle]) -> list[Candle]:
        if len(candles) == 1:  # the usual step: one candle, the general rule below in short
            c = candles[0]
            if c.symbol != slot.symbol:
                return []
            if c.timeframe == slot.aggregator.timeframe:
                return [c]
            if timeframe_seconds(c.timeframe) < slot.aggregator.seconds:
                return slot.aggregator.add(c)
            return []
        mine = [c for c in candles if c.symbol == slot.symbol]
        exact = [c for c in mine if c.timeframe == slot.aggregator.timeframe]
        if exact:
            return sorted(exact, key=lambda c: c.at)
        finer = [c for c in mine if timeframe_seconds(c.timeframe) < slot.aggregator.seconds]
        if not finer:
            return []
        finest = min(timeframe_seconds(c.timeframe) for c in finer)
        bars: list[Candle] = []
        for c in sorted(finer, key=lambda c: c.at):
            if timeframe_seconds(c.timeframe) == finest:
                bars.extend(slot.aggregator.add(c))
        return bars

    # -- step 6: NAV and output ----------------------------------------------------------

    def _collect(
        self, at: datetime, update: Update, quotes: list[Quote], rejected: list[tuple[str, str]]
    ) -> StepOutput:
        portfolios: dict[str, PortfolioOutput] = {}
        # _hour(at) > _hour(last) exactly when last < _hour(at), which lies on the hour.
        hour = _hour(at)
        # Once every runner has its NAV of this hour, only runners with records need one.
        hourly_due = self._nav_hour != hour
        complete = True
        last_quotes, last_nav_at = self._last_quotes, self._last_nav_at
        for runner in self.runners:
            records = runner.drain()
            recorded = records is not NO_RECORDS and bool(records)
            if not (recorded or hourly_due):
                continue
            navs = []
            # NAV at every event and at least hourly (DESIGN.md step 6).
            last_nav = last_nav_at.get(runner.id)
            hourly = last_nav is None or last_nav < hour
            if recorded or hourly:
                quote = last_quotes.get(runner.symbol)
                if quote is not None:
                    navs.append(runner.nav(at, quote.last, quote.mark or quote.last))
                    last_nav_at[runner.id] = at
                elif hourly:
                    complete = False  # no price yet: its hourly NAV is still to come
            if recorded or navs:
                portfolios[runner.id] = _new(PortfolioOutput, (records, navs))
        if hourly_due and complete:
            self._nav_hour = hour
        return _new(
            StepOutput,
            (at, quotes, list(update.candles), list(update.funding), portfolios, rejected),
        )


def _hour(at: datetime) -> datetime:
    # A step on the hour (each step of an hourly replay) is its own hour: no replace() call.
    on_the_hour = not (at.minute or at.second or at.microsecond)
    return at if on_the_hour else at.replace(minute=0, second=0, microsecond=0)
