"""The funding screen: settled and predicted funding rates outside the symbol's cap never reach
the money (issue 15: a settled rate of -50 % booked -47,662.63 on a 10,000 portfolio).

Binance clamps every funding rate to the symbol's cap (MECHANICS §9: `clamp(F, -k x MMR,
+k x MMR)`, some symbols with fixed caps of 2.4 %, 2.5 % or 3 %; `GET /fapi/v1/fundingInfo`
lists the adjusted caps), so a rate beyond it is bad data, not a market. The default cap is
3 % a settlement, the largest fixed cap in MECHANICS §9's sources; a per-symbol cap replaces
it when known (`caps`). Used by `CandleScreen.screen` on every update, live and replay alike:
a settled rate beyond the cap is dropped and a quote's predicted rate beyond it is blanked
(its prices go on), so that settlement books no funding at all: a missed payment of at most
the cap is a smaller error than booking garbage.
Counted per symbol; one WARNING per streak, one INFO when rates pass again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from loguru import logger

from bot.domain.values import Quote
from bot.engine.ports import MarketUpdate

DEFAULT_FUNDING_CAP = 0.03  # fraction per settlement (3 %), see the module docstring


class FundingScreen:
    """Drop settled rates and blank predicted rates that are not finite or beyond the cap."""

    def __init__(self, caps: Mapping[str, float] | None = None) -> None:
        self.caps = dict(caps or {})
        self.counts: Counter[str] = Counter()  # refused rates per symbol
        self._streak: set[str] = set()  # symbols whose rates are being refused

    def cap(self, symbol: str) -> float:
        """The largest |rate| accepted for `symbol` (a fraction per settlement)."""
        return self.caps.get(symbol, DEFAULT_FUNDING_CAP)

    def plausible(self, symbol: str, rate: object) -> bool:
        """Whether `rate` is a finite number within the symbol's cap."""
        cap = self.caps.get(symbol, DEFAULT_FUNDING_CAP)
        if type(rate) is float:  # the usual rate: a chained comparison is False for NaN and
            return -cap <= rate <= cap  # the infinities, as isfinite is
        return isinstance(rate, int | float) and math.isfinite(rate) and abs(rate) <= cap

    def screen(self, update: MarketUpdate) -> MarketUpdate:
        """The update without implausible funding rates."""
        if self._all_plausible(update):
            if self._streak:
                self._passed(update)
            return update  # the usual step
        plausible = self.plausible
        funding = tuple(f for f in update.funding if plausible(f.symbol, f.rate))
        quotes = tuple(
            q if q.funding_rate is None or plausible(q.symbol, q.funding_rate) else self._blank(q)
            for q in update.quotes
        )
        for f in update.funding:
            if not plausible(f.symbol, f.rate):
                self._refused(f.symbol, f.rate)
        return replace(update, funding=funding, quotes=quotes)

    def _all_plausible(self, update: MarketUpdate) -> bool:
        # `plausible` for every rate of the update (loops, not all() over generators: this
        # runs on every update).
        plausible = self.plausible
        for f in update.funding:
            if not plausible(f.symbol, f.rate):
                return False
        for q in update.quotes:
            if q.funding_rate is not None and not plausible(q.symbol, q.funding_rate):
                return False
        return True

    def _blank(self, quote: Quote) -> Quote:
        self._refused(quote.symbol, quote.funding_rate)
        return replace(quote, funding_rate=None)

    def _refused(self, symbol: str, rate: object) -> None:
        self.counts[symbol] += 1
        if symbol not in self._streak:
            self._streak.add(symbol)
            logger.warning(
                "{} funding rate {!r} refused: beyond the cap of {:g} (logged once per streak)",
                symbol,
                rate,
                self.cap(symbol),
            )

    def _passed(self, update: MarketUpdate) -> None:
        # A symbol's streak ends when one of its rates passes again.
        seen = {f.symbol for f in update.funding}
        seen |= {q.symbol for q in update.quotes if q.funding_rate is not None}
        for symbol in self._streak & seen:
            logger.info("{} funding rates plausible again", symbol)
        self._streak -= seen
