"""The candle screen: hold back candles whose prices are absurd next to the accepted quotes.

Used by the daemon on every live poll (and open to any feed with the `Feed` protocol's
`resume_candles`), before the update reaches the engine. Which candles are implausible is
decided by `bot.engine.validation.implausible_candles`; this module decides what to do with them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from loguru import logger

from bot.engine.bars import timeframe_seconds
from bot.engine.engine import Engine
from bot.engine.ports import Feed, MarketUpdate
from bot.engine.validation import implausible_candles


class CandleScreen:
    """Hold back live candles whose prices are absurd next to the accepted quotes.

    For each symbol with an implausible candle, that candle and every candle of the symbol
    closing after it opened (its later ones, and those of its other timeframes) are dropped
    from the update and the feed's cursors are moved back to them, so the next poll fetches
    them again: nothing is lost, nothing absurd reaches the strategy or the ledger.
    The rest of the update (quotes, other series, funding) goes on. One WARNING per streak,
    one INFO when candles pass again. After `max_held` polls in a row they pass anyway, with
    a WARNING, so a real move the quotes have not confirmed yet cannot stall the strategies.
    """

    def __init__(self, max_jump_pct: float, max_held: int = 20) -> None:
        self.max_jump_pct = max_jump_pct
        self.max_held = max_held
        self.held = 0

    def screen(self, update: MarketUpdate, engine: Engine, feed: Feed) -> MarketUpdate:
        """The update without implausible candles (and the later candles of their series)."""
        bad = implausible_candles(
            update.candles, engine.last_quotes, update.quotes, self.max_jump_pct
        )
        if not bad:
            if self.held:
                logger.info("candles plausible again after {} polls held back", self.held)
            self.held = 0
            return update
        if self.held >= self.max_held:
            logger.warning(
                "{} candles accepted after {} polls held back: the move persists",
                len(bad),
                self.held,
            )
            self.held = 0
            return update
        if self.held == 0:
            first = bad[0]
            logger.warning(
                "{} {} candle at {} implausible (close {:g}); held back and fetched again "
                "(logged once per streak)",
                first.symbol,
                first.timeframe,
                first.at.isoformat(),
                first.close,
            )
        self.held += 1
        # A symbol's series stay in step: from the first implausible candle on, every candle
        # of its symbol that closes after it opened is held back too (a coarser strategy bar
        # must not arrive without the finer candles it may be built from, or the reverse).
        since: dict[str, datetime] = {}
        for c in bad:
            since[c.symbol] = min(since.get(c.symbol, c.at), c.at)
        cut: dict[tuple[str, str], datetime] = {}
        kept = []
        for c in update.candles:
            start = since.get(c.symbol)
            if (
                start is not None
                and c.at + timedelta(seconds=timeframe_seconds(c.timeframe)) > start
            ):
                key = (c.symbol, c.timeframe)
                cut[key] = min(cut.get(key, c.at), c.at)
            else:
                kept.append(c)
        for (symbol, tf), at in cut.items():
            feed.resume_candles(symbol, tf, at - timedelta(seconds=timeframe_seconds(tf)))
        return replace(update, candles=tuple(kept))
