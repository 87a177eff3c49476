"""Snapshot validation (DESIGN.md "One step", step 1): pure, no I/O, no clock reads.

A quote is rejected, with one reason, when a price is
  "missing"       a configured symbol has no quote, or a required price field is None;
  "nan"           a price field is NaN or infinite;
  "non_positive"  a price field is <= 0;
  "stale"         its exchange timestamp is more than `stale_after_seconds` before step time;
  "out_of_order"  its timestamp is older than the last accepted quote of the symbol;
  "jump"          `last` or `mark` moved more than the jump bound from the last accepted one
                  and no closed candle corroborates the move (see below);
  "disagree"      `last` lies more than `max_basis_pct` from the mark or the index price of the
                  same quote (a swapped or garbled field: the exchange's own prices of one
                  instant never drift that far apart, MECHANICS §9's mark follows the index).
Checks run in that order and the first failure is the reason.

The jump reference of a symbol is its last accepted quote, and it moves only on corroborated
prices: a quote within the jump bound of it (`jump_bound`: `max_jump_pct` for quotes up to an
hour apart, growing with the square root of the time beyond, as volatility does), or a quote
whose last price the symbol's closed candles reach from the reference: candles of the same or
an earlier update, each overlapping the span of those before it, starting at the reference
(`CORROBORATION_TOLERANCE`). A candle comes from the exchange's kline endpoint, not the ticker,
and a real move of the market opens where the market was; so a wrong price held for many polls
(a spike, two symbols' quotes swapped) is refused for as long as it lasts, while a real move is
accepted with the first candle that closes after it (at most one bar of the finest timeframe
fetched; in a replay the bar of the quote itself). Rejected quotes change no state,
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
from functools import lru_cache

from bot.domain.values import Candle, Quote
from bot.engine.bars import timeframe_seconds

REASONS = ("missing", "nan", "non_positive", "stale", "out_of_order", "jump", "disagree")
# How far a quote may lie outside the span of the corroborating candles: a quote polled a few
# seconds after its candle closed may have moved on a little.
CORROBORATION_TOLERANCE = 0.01
_HOUR = 3600.0
_DAY = 86400
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
    """A symbol's last accepted quote, and the price span its closed candles have reached
    from it since (`low`..`high`, starting at `last`)."""

    at: datetime
    last: float
    mark: float | None
    low: float
    high: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self, at: datetime, last: float, mark: float | None, low: float, high: float
    ) -> None:
        self.at, self.last, self.mark, self.low, self.high = at, last, mark, low, high

    def reach(self, candles: Iterable[Candle]) -> None:
        """Extend the span by every sound candle that overlaps it (in time order, so a chain
        of candles walking away from the reference extends it candle by candle)."""
        tol = CORROBORATION_TOLERANCE
        for c in sorted(candles, key=lambda c: c.at):
            if (
                sound_candle(c)
                and c.low <= self.high * (1 + tol)
                and c.high >= self.low * (1 - tol)
            ):
                self.low, self.high = min(self.low, c.low), max(self.high, c.high)

    def corroborates(self, price: float) -> bool:
        """Whether the candles' span reaches `price` (within `CORROBORATION_TOLERANCE`)."""
        tol = CORROBORATION_TOLERANCE
        return self.low * (1 - tol) <= price <= self.high * (1 + tol)


def jump_bound(max_jump_pct: float, seconds: float) -> float:
    """The largest move (a fraction) accepted without corroboration between two quotes
    `seconds` apart: `max_jump_pct` up to an hour, times sqrt(hours) beyond (a price's spread
    grows with the square root of time; quotes hours apart, after downtime, move further)."""
    return max_jump_pct * math.sqrt(seconds / _HOUR) if seconds > _HOUR else max_jump_pct


class SnapshotValidator:
    """Accept or reject each quote of a snapshot; remembers the last accepted quote per symbol.

    Parameters
    ----------
    symbols: the configured symbols; each one absent from a snapshot counts as "missing".
        None disables that check (e.g. a replay whose symbols start at different dates).
    max_jump_pct: largest move of `last`/`mark` from the last accepted value accepted without
        a corroborating candle, as a fraction (0.10 = 10 %) for quotes up to an hour apart
        (`jump_bound` beyond).
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
        self._since: dict[str, list[Candle]] = {}  # candles since each symbol's reference

    def __call__(
        self,
        quotes: Sequence[Quote],
        at: datetime | None = None,
        candles: Sequence[Candle] = (),
    ) -> tuple[list[Quote], list[tuple[str, str]]]:
        """Engine-facing form: (accepted quotes, [(symbol, reason), ...]) at step time `at`."""
        accepted, rejected = self.validate(quotes, at, candles)
        return accepted, [(r.symbol, r.reason) for r in rejected] if rejected else []

    def validate(
        self,
        quotes: Sequence[Quote],
        at: datetime | None = None,
        candles: Sequence[Candle] = (),
    ) -> tuple[list[Quote], list[Rejection]]:
        """Split a snapshot into accepted quotes and rejections; `at` is the step time (UTC);
        `candles`: the closed candles of the same update, which may corroborate a jump."""
        if at is None and self._now is not None:
            at = self._now()
        if candles:
            self._observe(candles)
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
        limit = jump_bound(self.max_jump_pct, (quote.at - ref.at).total_seconds())
        last, mark = quote.last, quote.mark
        last_moved = abs(last / ref.last - 1.0) > limit
        mark_moved = (
            mark is not None and ref.mark is not None and abs(mark / ref.mark - 1.0) > limit
        )
        if not (last_moved or mark_moved):
            return None
        # A move beyond the bound stands only where the closed candles went: the mark follows
        # with the last price (the "disagree" check bounds their distance).
        if last_moved:
            # The candles since the reference extend its span only now (rarely needed).
            ref.reach(self._since.pop(quote.symbol, ()))
            if ref.corroborates(last):
                return None
        return "jump"

    def _observe(self, candles: Sequence[Candle]) -> None:
        # Keep each referenced symbol's candles since its reference (a jump reads them).
        last, since = self._last, self._since
        for c in candles:
            if c.symbol in last:
                since.setdefault(c.symbol, []).append(c)

    def _accept(self, quote: Quote) -> None:
        last = quote.last
        self._last[quote.symbol] = _Reference(quote.at, last, quote.mark, last, last)
        self._since.pop(quote.symbol, None)

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
    """Candles that are malformed (`sound_candle`), not aligned to their timeframe (`aligned`),
    or, unless `max_jump_pct` is None, far from the accepted prices of their symbol without a
    fresh quote to corroborate them (`bot.engine.candle_screen.CandleScreen` holds them back,
    in live polls; replays pass None).

    References: the last accepted quote's last price and, when it lies within `max_jump_pct`
    of that one, the fresh quote's (so a spiked quote cannot vouch for a spiked candle). A
    candle with a price beyond `max_jump_pct` of every reference is implausible unless it is a
    corroborated move: it opens within the bound of a reference (a real bar starts where the
    market was) and the fresh quote lies within the bound of its close (the ticker went on from
    where the kline ended), as a crash bar does; a bar spiked as a whole, or spiked while the
    quotes are not, fails that. A symbol without an accepted quote yet has no reference and
    its candles pass.
    """
    if not candles:
        return []  # most replay and live steps: no candle closed
    # Without a jump bound there are no references: only malformed candles are implausible.
    jump = math.inf if max_jump_pct is None else max_jump_pct
    refs: dict[str, list[float]] = {}
    for symbol, quote in () if max_jump_pct is None else last_accepted.items():
        refs[symbol] = [quote.last]
    now: dict[str, float] = {}
    for quote in fresh:
        base = refs.get(quote.symbol)
        if base and _finite(quote.last):
            now[quote.symbol] = quote.last
            if abs(quote.last / base[0] - 1) <= jump:
                base.append(quote.last)
    bad = []
    for candle in candles:
        if not (sound_candle(candle) and aligned(candle)):
            bad.append(candle)
            continue
        near = refs.get(candle.symbol)
        if not near:
            continue
        prices = (candle.open, candle.high, candle.low, candle.close)
        if any(all(abs(p / r - 1) > jump for r in near) for p in prices) and not _moved_to(
            candle, near, now.get(candle.symbol), jump
        ):
            bad.append(candle)
    return bad


def _moved_to(candle: Candle, refs: Sequence[float], quote: float | None, jump: float) -> bool:
    # A corroborated move: the bar opens near where the market was and the fresh quote goes on
    # from near its close (see `implausible_candles`).
    return (
        quote is not None
        and any(abs(candle.open / r - 1) <= jump for r in refs)
        and abs(quote / candle.close - 1) <= jump
    )


def aligned(candle: Candle) -> bool:
    """Whether the candle opens on its timeframe's boundary (UTC, from the epoch, as the
    exchanges' bars do; weekly and longer bars only on a day boundary, Binance's weeks open
    on Mondays). A candle that does not cannot be a bar of its series."""
    seconds = _boundary_seconds(candle.timeframe)
    return int(candle.at.timestamp()) % seconds == 0 and candle.at.microsecond == 0


@lru_cache(maxsize=64)
def _boundary_seconds(timeframe: str) -> int:
    # `aligned` runs for every candle of a replay: a timeframe is parsed once.
    return min(timeframe_seconds(timeframe), _DAY)


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
