"""Snapshot validation (DESIGN.md "One step", step 1): pure, no I/O, no clock reads.

A quote is rejected, with one reason, when a price is
  "missing"       a configured symbol has no quote, or a required price field is None;
  "nan"           a price field is NaN or infinite;
  "non_positive"  a price field is <= 0;
  "stale"         its exchange timestamp is more than `stale_after_seconds` before step time;
  "out_of_order"  its timestamp is older than the last accepted quote of the symbol;
  "jump"          `last` or `mark` moved more than `max_jump_pct` from the last accepted one;
  "disagree"      `last` lies more than `max_basis_pct` from the mark or the index price of the
                  same quote (a swapped or garbled field: the exchange's own prices of one
                  instant never drift that far apart, MECHANICS §9's mark follows the index).
Checks run in that order and the first failure is the reason. Rejected quotes change no state,
so nothing downstream sees them; counts per reason accumulate for the run summary.

Candles are checked too (`implausible_candles`, applied by `bot.engine.candle_screen`): the
daemon holds back candles absurd next to the accepted prices, or malformed, and fetches them
again on the next poll; a replay holds back the malformed ones only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.values import Candle, Quote

REASONS = ("missing", "nan", "non_positive", "stale", "out_of_order", "jump", "disagree")
# Largest accepted |last / mark - 1| (and against the index) of one quote; BTCUSDT's and
# ETHUSDT's mark stayed within a few percent of the last price even on 2020-03-12 (the 1h
# mark and last klines of ../shared/data), so 10 % leaves room and still refuses garbage.
MAX_BASIS_PCT = 0.10
_INF = math.inf


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected quote (or absent symbol) and why."""

    symbol: str
    reason: str


@dataclass(slots=True)
class _Reference:
    at: datetime
    last: float | None
    mark: float | None


class SnapshotValidator:
    """Accept or reject each quote of a snapshot; remembers the last accepted quote per symbol.

    Parameters
    ----------
    symbols: the configured symbols; each one absent from a snapshot counts as "missing".
        None disables that check (e.g. a replay whose symbols start at different dates).
    max_jump_pct: largest accepted move of `last`/`mark` from the last accepted value, as a
        fraction (0.25 = 25 %).
    stale_after_seconds: largest accepted age of a quote's exchange timestamp at step time.
    max_basis_pct: largest accepted |last / mark - 1| and |last / index - 1| of one quote.
    require_mark: reject as "missing" a quote without a mark price (live perps need it).
    now: the step time source for the stale check when `validate` gets no `at` (a Clock's
        `now`); None disables the stale check in that case.
    """

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        max_jump_pct: float = 0.25,
        stale_after_seconds: float = 120.0,
        require_mark: bool = False,
        now: Callable[[], datetime] | None = None,
        max_basis_pct: float = MAX_BASIS_PCT,
    ) -> None:
        if max_jump_pct <= 0 or stale_after_seconds <= 0:
            raise ValueError("max_jump_pct and stale_after_seconds must be > 0")
        self.symbols = None if symbols is None else tuple(symbols)
        self.max_jump_pct = max_jump_pct
        self.stale_after = timedelta(seconds=stale_after_seconds)
        self.require_mark = require_mark
        self.max_basis_pct = max_basis_pct
        self._now = now
        self.counts: Counter[str] = Counter()
        self._last: dict[str, _Reference] = {}
        # A jump candidate confirmed by the next quote is a real move, not a spike (assumption:
        # an exchange glitch does not repeat the same absurd level twice in a row).
        self._candidate: dict[str, dict[str, float]] = {}

    def __call__(
        self, quotes: Sequence[Quote], at: datetime | None = None
    ) -> tuple[list[Quote], list[tuple[str, str]]]:
        """Engine-facing form: (accepted quotes, [(symbol, reason), ...]) at step time `at`."""
        accepted, rejected = self.validate(quotes, at)
        return accepted, [(r.symbol, r.reason) for r in rejected] if rejected else []

    def validate(
        self, quotes: Sequence[Quote], at: datetime | None = None
    ) -> tuple[list[Quote], list[Rejection]]:
        """Split a snapshot into accepted quotes and rejections; `at` is the step time (UTC)."""
        if at is None and self._now is not None:
            at = self._now()
        accepted: list[Quote] = []
        rejected: list[Rejection] = []
        for quote in quotes:
            reason = self._reason(quote, at)
            if reason is None:
                self._accept(quote)
                accepted.append(quote)
            else:
                rejected.append(Rejection(quote.symbol, reason))
        if self.symbols:
            seen = {quote.symbol for quote in quotes}
            rejected += [Rejection(s, "missing") for s in self.symbols if s not in seen]
        if rejected:
            self.counts.update(r.reason for r in rejected)
        return accepted, rejected

    def _reason(self, quote: Quote, at: datetime | None) -> str | None:
        prices = (quote.last, quote.mark, quote.index_price, quote.bid, quote.ask)
        if self.require_mark and quote.mark is None:
            return "missing"
        for v in prices:
            # the usual quote: every present price a finite number > 0 (NaN fails both sides)
            if v is not None and not (isinstance(v, int | float) and 0.0 < v < _INF):
                return _price_problem(prices)
        if at is not None and at - quote.at > self.stale_after:
            return "stale"
        ref = self._last.get(quote.symbol)
        if ref is not None:
            if quote.at < ref.at:
                return "out_of_order"
            jump = self._jump(quote, ref)
            if jump is not None:
                return jump
        return self._disagreement(quote)

    def _disagreement(self, quote: Quote) -> str | None:
        limit, last = self.max_basis_pct, quote.last
        for other in (quote.mark, quote.index_price):
            if other is not None and abs(last / other - 1.0) > limit:
                return "disagree"
        return None

    def _jump(self, quote: Quote, ref: _Reference) -> str | None:
        limit = self.max_jump_pct
        last, mark = quote.last, quote.mark
        last_moved = (
            last is not None and ref.last is not None and abs(last / ref.last - 1.0) > limit
        )
        mark_moved = (
            mark is not None and ref.mark is not None and abs(mark / ref.mark - 1.0) > limit
        )
        if not (last_moved or mark_moved):
            self._candidate.pop(quote.symbol, None)
            return None
        moved: dict[str, float] = {}
        if last_moved:
            moved["last"] = last
        if mark_moved and mark is not None:  # (mark_moved implies it; for the type checker)
            moved["mark"] = mark
        candidate = self._candidate.get(quote.symbol)
        if candidate is not None and all(
            name in candidate and abs(v / candidate[name] - 1.0) <= limit
            for name, v in moved.items()
        ):
            self._candidate.pop(quote.symbol, None)
            return None  # the new level was seen twice in a row: accept it
        self._candidate[quote.symbol] = moved
        return "jump"

    def _accept(self, quote: Quote) -> None:
        self._last[quote.symbol] = _Reference(quote.at, quote.last, quote.mark)

    def summary(self) -> str:
        """Rejections per reason, e.g. "jump 2, stale 1" ("none" when there were none)."""
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if v) or "none"


def _price_problem(prices: Sequence[object]) -> str:
    """The reason for a quote whose prices are not all finite numbers > 0 (first failing check
    over all fields: "missing" before "nan" before "non_positive")."""
    present = [v for v in prices if v is not None]
    if any(not isinstance(v, int | float) for v in present):
        return "missing"  # not a number at all: treat as absent
    numbers = [float(v) for v in present if isinstance(v, int | float)]
    if any(not math.isfinite(v) for v in numbers):
        return "nan"
    return "non_positive"


def implausible_candles(
    candles: Sequence[Candle],
    last_accepted: Mapping[str, Quote],
    fresh: Sequence[Quote],
    max_jump_pct: float | None,
) -> list[Candle]:
    """Candles with a price that is not a number, not > 0, inconsistent (a high below the open
    or close, a low above them), or, unless `max_jump_pct` is None, farther than `max_jump_pct`
    from every reference price of its symbol (`bot.engine.candle_screen.CandleScreen` holds
    them back, in live polls and replays alike).

    References: the last accepted quote's last price and, when it lies within `max_jump_pct`
    of that one, the fresh quote's (so a spiked quote cannot vouch for a spiked candle). A
    symbol without an accepted quote yet has no reference and its candles pass.
    """
    if not candles:
        return []  # most replay and live steps: no candle closed
    # Without a jump bound there are no references: only malformed candles are implausible.
    jump = math.inf if max_jump_pct is None else max_jump_pct
    refs: dict[str, list[float]] = {}
    for symbol, quote in () if max_jump_pct is None else last_accepted.items():
        refs[symbol] = [quote.last]
    for quote in fresh:
        base = refs.get(quote.symbol)
        if base and _finite(quote.last) and abs(quote.last / base[0] - 1) <= jump:
            base.append(quote.last)
    bad = []
    for candle in candles:
        if not sound_candle(candle):
            bad.append(candle)
            continue
        prices = (candle.open, candle.high, candle.low, candle.close)
        near = refs.get(candle.symbol)
        if near and any(all(abs(p / r - 1) > jump for r in near) for p in prices):
            bad.append(candle)
    return bad


def sound_candle(candle: Candle) -> bool:
    """Return True when every price is a finite number > 0 and a path runs through them
    (low <= open, close <= high): the opposite of malformed."""
    # One chained comparison, False for NaN, infinities and prices <= 0 (this runs for every
    # candle of a replay); a price that is not a number at all raises TypeError.
    low, high = candle.low, candle.high
    try:
        return 0.0 < low <= candle.open <= high < math.inf and low <= candle.close <= high
    except TypeError:
        return False


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
