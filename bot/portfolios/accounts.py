"""The account runner: `perp`, `perp_static` and `spot` portfolios on one `PerpAccount` each.

Domain errors from a signal (a stop on the wrong side of the price, for example) are logged and
cost that signal, never the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from loguru import logger

from bot.domain import perp_account as pa
from bot.domain.frozen import evolve
from bot.domain.liquidation import Tier
from bot.domain.perp import (
    PerpParams,
    PerpPosition,
    StaticPerpParams,
    quiet_band,
    trigger_band,
    walk_quiet,
)
from bot.domain.perp_funding import FundingGuard, apply_funding, repriced
from bot.domain.perp_signals import apply_account_signal, can_open, keeps
from bot.domain.records import NavRecord, RefusalRecord
from bot.domain.sizing import MarketRules
from bot.domain.spot import SpotParams, new_spot_account
from bot.domain.values import Refusal, Side
from bot.portfolios.protocol import TARGETS, PricePoint, RunnerBase, TimedEvent
from bot.strategy import Signal


class AccountRunner(RunnerBase):
    """`perp`, `perp_static` and `spot`: one PerpAccount (spot is an account without margin)."""

    def __init__(
        self,
        portfolio_id: str,
        experiment: str,
        symbol: str,
        capital: float,
        params: PerpParams | StaticPerpParams | SpotParams,
        rules: MarketRules,
        tiers: Sequence[Tier],
    ) -> None:
        super().__init__(portfolio_id, experiment, symbol)
        self.params = params
        self.rules = rules
        self.tiers = tuple(tiers)
        self._spot = spot = isinstance(params, SpotParams)
        self._account = (
            new_spot_account(symbol, capital) if spot else pa.PerpAccount(symbol, capital)
        )
        # The best trigger price `on_path` walked to since `_account` was set, when its position
        # has not been given it yet (`account` does, when asked): None when there is none.
        self._best: float | None = None
        self._terms = pa.nav_terms(self._account)
        self._terms_of = self._account  # the account `_terms` belong to
        self._band: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self._band_of: PerpPosition | None = None  # the position `_band` belongs to
        # The liquidation guard after funding: risk-sized perps only (the others have no stop).
        self._guard = (
            FundingGuard(params.liquidation_buffer, rules)
            if isinstance(params, PerpParams)
            else None
        )

    @property
    def account(self) -> pa.PerpAccount:
        """The portfolio's account, as `pa.on_price` point by point would have left it."""
        best, account = self._best, self._account
        if best is not None and account.position is not None:
            # Only a position without trailing stop walks to a new best, which moves nothing
            # else, so its band stays (`trigger_band` does not read the best).
            pos = self._band_of = evolve(account.position, best=best)
            account = self._account = evolve(account, position=pos)
        self._best = None
        return account

    @account.setter
    def account(self, account: pa.PerpAccount) -> None:
        self._account, self._best = account, None

    # Funding is the engine's; an account has no other timed events (the engine skips it).
    has_timed_events = False

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        return []

    def apply_event(self, event: TimedEvent, price: float) -> None:
        raise ValueError(f"{self.id}: unexpected timed event {event.kind!r}")

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        self.account, bookings = apply_funding(
            self.account, at, rate, mark, tiers=self.tiers, guard=self._guard
        )
        self._book(bookings)

    def on_path(self, points: Sequence[PricePoint]) -> None:
        """Skip the quiet points (`walk_quiet`); the others go through `pa.on_price`."""
        pos = self._account.position  # its best may lag (`_best`): the walk starts there
        i, end = 0, len(points)
        while pos is not None and i < end:  # prices alone never open a position
            if pos is not self._band_of:
                # Without a trailing stop a new best moves nothing else: walked through.
                band = trigger_band(pos) if pos.trailing_pct is None else quiet_band(pos)
                self._band, self._band_of = band, pos
            best = pos.best if self._best is None else self._best
            i, best = walk_quiet(pos, self._band, points, i, end, best)
            if best != pos.best:
                self._best = best  # the position gets it when `account` is asked
            if i == end:
                return
            at, last, mark, gap, _ = points[i]
            self.account, bookings = pa.on_price(self.account, at, last, mark, gap=gap)
            self._book(bookings)
            pos = self.account.position
            i += 1

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        target = TARGETS[signal.direction]
        if keeps(self._account, target, self.params):  # the side held: `_best` does not change it
            return  # nothing to book and nothing refused (most signals)
        try:
            self.account, bookings = self._apply(at, target, signal, price)
        except ValueError as exc:
            self._refused(at, signal, exc)
            self._count(at, (Refusal.BAD_SIGNAL,))
            return
        self._book(bookings)
        self._count(at, bookings.refusals)

    def _count(self, at: datetime, refusals: Sequence[Refusal]) -> None:
        # A dead portfolio refuses every signal; counting that would only say it again.
        if self.died_at is None and refusals:
            self._out().refusals.extend(RefusalRecord(at, r) for r in refusals)

    def _apply(
        self, at: datetime, target: Side | None, signal: Signal, price: float
    ) -> tuple[pa.PerpAccount, pa.Bookings]:
        return apply_account_signal(
            self.account,
            at,
            target,
            price,
            signal.stop,
            signal.take_profit,
            self.params,
            self.rules,
            self.tiers,
            signal.stop_pct,
        )

    def _book(self, bookings: pa.Bookings) -> None:
        if bookings is pa.NOTHING:
            return
        # Position ids are per account ("1", "2", ...); the ledger's are global.
        positions = [p.renamed(f"{self.id}#{p.id}") for p in bookings.positions]
        self._out().extend(bookings.fills, bookings.fees, (), positions)
        # Refused entries are counted in the ledger (`entry_refusals`), so their notes stay
        # out of the INFO log, where a dead portfolio would repeat one at every signal.
        level = "DEBUG" if bookings.refusals else "INFO"
        for note in bookings.notes:
            logger.log(level, "{}: {}", self.id, note)

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        account = self._account  # NAV does not read the best price (`_best`)
        if self._terms_of is not account:  # the account changed since the last snapshot
            self._terms, self._terms_of = pa.nav_terms(account), account
        return self._terms.record(at, last if self._spot else mark)

    def died(self, nav: NavRecord) -> str | None:
        if self.died_at is not None or self._account.position is not None:  # (best: unread)
            return None
        if can_open(nav.nav, nav.price, self.params, self.rules):
            return None
        self.died_at = nav.at
        if nav.nav <= 0.0:
            return f"NAV {nav.nav:.2f} USDT"
        return (
            f"NAV {nav.nav:.2f} USDT cannot pay for the smallest order "
            f"(minimum notional {self.rules.min_notional:g} USDT)"
        )

    def state(self) -> dict[str, Any]:
        return {"account": self.account, "died_at": self.died_at}

    def restore(self, state: dict[str, Any]) -> None:
        self.account = state["account"]
        self.died_at = state.get("died_at")
        pos = self.account.position
        margin = None if pos is None else pos.margin
        if pos is not None and margin is not None and pos.initial_margin is None:
            # A position opened before isolated margin was modelled (resume state of an
            # older ltbot): its margin is still the initial one (funding was paid from the
            # wallet then); give it the clearance fee and the prices the current rules use.
            fee = self.rules.liquidation_fee
            pos = evolve(pos, initial_margin=margin, liquidation_fee=fee)
            pos = repriced(pos, pos.qty, margin, self.tiers)
            self.account = evolve(self.account, position=pos)
