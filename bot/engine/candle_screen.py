"""The candle screen: hold back candles whose prices are absurd next to the accepted quotes.

Used on every update before it reaches the engine, by the daemon (live polls) and the replay
driver alike; it runs the funding screen (`bot.engine.funding_screen`) first. Which candles
are implausible is decided by `bot.engine.validation.implausible_candles`; `hold_back`
decides which candles go with them (pure); `CandleScreen` keeps the streak and gets the held
candles offered again: a live feed fetches them again (`CandleRefetch`), a replay gets them
back from the screen with the next update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from bot.domain.values import Candle, Quote
from bot.engine.bars import timeframe_seconds
from bot.engine.funding_screen import FundingScreen
from bot.engine.ports import MarketUpdate
from bot.engine.quote_span import QuoteSpans
from bot.engine.validation import aligned, implausible_candles, sound_candle


class CandleRefetch(Protocol):
    """What the screen needs from a live feed (the `Feed` port has it): fetch a series again."""

    def resume_candles(self, symbol: str, timeframe: str, last_open: datetime) -> None:
        """Continue a series after the candle that opened at `last_open`."""
        ...


def hold_back(
    candles: Sequence[Candle], bad: Sequence[Candle]
) -> tuple[list[Candle], list[Candle]]:
    """Split `candles` into (kept, held): the `bad` ones and, per symbol with a bad candle,
    every candle of the symbol closing after the first bad one opened are held.

    A symbol's series stay in step: a coarser strategy bar must not arrive without the finer
    candles it may be built from, or the reverse. Pure; both lists keep the input's order.
    """
    since: dict[str, datetime] = {}
    for c in bad:
        since[c.symbol] = min(since.get(c.symbol, c.at), c.at)
    kept: list[Candle] = []
    held: list[Candle] = []
    for c in candles:
        start = since.get(c.symbol)
        late = (
            start is not None and c.at + timedelta(seconds=timeframe_seconds(c.timeframe)) > start
        )
        (held if late else kept).append(c)
    return kept, held


class CandleScreen:
    """Hold back candles whose prices are absurd next to the accepted quotes.

    For each symbol with an implausible candle, that candle and every candle of the symbol
    closing after it opened (its later ones, and those of its other timeframes) are dropped
    from the update and offered again with the next one: with `refetch` (a live feed) its
    cursors are moved back so the next poll fetches them again; without it (a replay, which
    cannot fetch again) the screen keeps them and puts them before the next update's candles.
    Nothing is lost, nothing absurd reaches the strategy or the ledger. The rest of the update
    (quotes, other series, funding) goes on. One WARNING per streak, one INFO when candles pass
    again. After `max_held` updates in a row they pass anyway, with a WARNING, so a real move
    the quotes have not confirmed yet cannot stall the strategies; malformed candles (a price
    not a finite number > 0, inconsistent OHLC, an open time off its timeframe's boundary),
    which no path can walk, and live candles that contradict the quotes accepted during their
    interval (`bot.engine.quote_span`), are dropped instead.
    """

    def __init__(
        self,
        max_jump_pct: float | None,
        max_held: int = 20,
        refetch: CandleRefetch | None = None,
        funding_caps: Mapping[str, float] | None = None,
    ) -> None:
        """`max_jump_pct` None: hold back only malformed candles (what a replay does).
        `funding_caps`: per-symbol funding caps for the funding screen run first."""
        self.funding = FundingScreen(funding_caps)
        self.max_jump_pct = max_jump_pct
        self.max_held = max_held
        self.refetch = refetch
        self.held = 0  # updates held back in a row
        self.held_total = 0  # updates that held candles back, for the run summary
        self.dropped = 0  # candles dropped for good (malformed, contradicting the quotes)
        self.pending: tuple[Candle, ...] = ()  # held candles to offer again (no refetch)
        # Live only: the accepted quotes per minute, which a candle's range must contain.
        self.spans = None if max_jump_pct is None else QuoteSpans()

    def screen(self, update: MarketUpdate, last_quotes: Mapping[str, Quote]) -> MarketUpdate:
        """The update without implausible candles (and the later candles of their series).

        `last_quotes`: the engine's last accepted quote per symbol (`Engine.last_quotes`).
        Funding rates beyond their cap are screened first (`FundingScreen`)."""
        update = self.funding.screen(update)
        if self.max_jump_pct is None and not self.pending and _all_sound(update.candles):
            return update  # a replay's usual step: nothing held, every candle sound
        if self.pending:
            update = replace(update, candles=(*self.pending, *update.candles))
            self.pending = ()
        bad = implausible_candles(update.candles, last_quotes, update.quotes, self.max_jump_pct)
        if self.spans is not None:
            self.spans.observe(last_quotes.values())
            bad += [c for c in update.candles if c not in bad and self.spans.contradicts(c)]
        if not bad:
            if self.held:
                logger.info("candles plausible again after {} polls held back", self.held)
            self.held = 0
            return update
        if self.held >= self.max_held:
            return self._give_up(update, bad)
        if self.held == 0:
            first = bad[0]
            logger.warning(
                "{} {} candle at {} implausible (close {:g}); held back and {} "
                "(logged once per streak)",
                first.symbol,
                first.timeframe,
                first.at.isoformat(),
                first.close,
                "fetched again"
                if self.refetch is not None
                else "offered again with the next update",
            )
        self.held += 1
        self.held_total += 1
        kept, held = hold_back(update.candles, bad)
        if self.refetch is None:
            self.pending = tuple(held)
        else:
            cut: dict[tuple[str, str], datetime] = {}
            for c in held:
                key = (c.symbol, c.timeframe)
                cut[key] = min(cut.get(key, c.at), c.at)
            for (symbol, tf), at in cut.items():
                self.refetch.resume_candles(
                    symbol, tf, at - timedelta(seconds=timeframe_seconds(tf))
                )
        return replace(update, candles=tuple(kept))

    def _give_up(self, update: MarketUpdate, bad: Sequence[Candle]) -> MarketUpdate:
        """After `max_held` updates: let the candles pass, all but the malformed ones."""
        # Without references, only the malformed candles are implausible; a candle that
        # contradicts the accepted quotes is no bar of its series either (`QuoteSpans`).
        malformed = implausible_candles(bad, {}, (), self.max_jump_pct)
        if self.spans is not None:
            malformed += [c for c in bad if c not in malformed and self.spans.contradicts(c)]
        held, self.held = self.held, 0
        if len(malformed) < len(bad):
            logger.warning(
                "{} candles accepted after {} polls held back: the move persists",
                len(bad) - len(malformed),
                held,
            )
        if not malformed:
            return update
        first = malformed[0]
        logger.warning(
            "{} malformed candles dropped after {} polls held back (first: {} {} at {})",
            len(malformed),
            held,
            first.symbol,
            first.timeframe,
            first.at.isoformat(),
        )
        self.dropped += len(malformed)
        dropped = set(map(id, malformed))
        return replace(update, candles=tuple(c for c in update.candles if id(c) not in dropped))

    def summary(self) -> str:
        """What the screen refused, for the run summary, e.g. "screened: funding BTC/USDT:USDT
        2; candles held 3 polls, 1 dropped" ("screened: nothing" when it refused nothing)."""
        parts = []
        if self.funding.counts:
            counts = ", ".join(f"{s} {n}" for s, n in sorted(self.funding.counts.items()))
            parts.append(f"funding {counts}")
        if self.held_total:
            parts.append(f"candles held {self.held_total} polls, {self.dropped} dropped")
        return "screened: " + ("; ".join(parts) or "nothing")


def _all_sound(candles: Sequence[Candle]) -> bool:
    # Every candle sound and on its boundary (a loop, not all() over a generator: this runs
    # for every update of a replay).
    for c in candles:  # noqa: SIM110 (see above)
        if not (sound_candle(c) and aligned(c)):
            return False
    return True
