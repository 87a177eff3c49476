"""Portfolio runners: adapt the pure vehicles (token fund, perp, static perp, spot) to the engine.

Each runner owns one portfolio's domain state, applies what the engine tells it, and keeps the
ledger records until the engine drains them. Domain errors from a signal (a stop on the wrong
side of the price, for example) are logged and cost that signal, never the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from loguru import logger

from bot.domain import leveraged_token as lt
from bot.domain import perp_account as pa
from bot.domain.ledger import NavRecord
from bot.domain.liquidation import Tier
from bot.domain.perp import PerpParams, StaticPerpParams
from bot.domain.perp_vehicle import apply_perp_signal, apply_static_signal
from bot.domain.sizing import MarketRules
from bot.domain.spot import SpotParams, apply_spot_signal, new_spot_account
from bot.domain.token_records import TokenRecords
from bot.domain.token_schedule import TokenTimedEvent, apply_timed_event, due_events
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side
from bot.runner import Records, TimedEvent
from bot.strategy import Direction, Signal

_TARGETS = {Direction.LONG: Side.LONG, Direction.SHORT: Side.SHORT, Direction.FLAT: None}


class _Base:
    def __init__(self, portfolio_id: str, experiment: str, symbol: str) -> None:
        self.id = portfolio_id
        self.experiment = experiment
        self.symbol = symbol
        self._records = Records()
        self.refused_signals = 0

    def drain(self) -> Records:
        records, self._records = self._records, Records()
        return records

    def _refused(self, at: datetime, signal: Signal, exc: ValueError) -> None:
        self.refused_signals += 1
        logger.warning(
            "{}: {} signal at {} refused: {}", self.id, signal.direction.value, at.isoformat(), exc
        )


class AccountRunner(_Base):
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
        spot = isinstance(params, SpotParams)
        self.account = (
            new_spot_account(symbol, capital) if spot else pa.PerpAccount(symbol, capital)
        )

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        return []  # funding is the engine's; an account has no other timed events

    def apply_event(self, event: TimedEvent, price: float) -> None:
        raise ValueError(f"{self.id}: unexpected timed event {event.kind!r}")

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        self.account, bookings = pa.apply_funding(self.account, at, rate, mark)
        self._book(bookings)

    def on_price(self, at: datetime, last: float, mark: float, gap: bool, bar_close: bool) -> None:
        self.account, bookings = pa.on_price(self.account, at, last, mark, gap=gap)
        self._book(bookings)

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        target = _TARGETS[signal.direction]
        try:
            self.account, bookings = self._apply(at, target, signal, price)
        except ValueError as exc:
            self._refused(at, signal, exc)
            return
        self._book(bookings)

    def _apply(
        self, at: datetime, target: Side | None, signal: Signal, price: float
    ) -> tuple[pa.PerpAccount, pa.Bookings]:
        params = self.params
        if isinstance(params, PerpParams):
            return apply_perp_signal(
                self.account,
                at,
                target,
                price,
                signal.stop,
                signal.take_profit,
                params,
                self.rules,
                self.tiers,
            )
        if isinstance(params, StaticPerpParams):
            return apply_static_signal(
                self.account, at, target, price, params, self.rules, self.tiers
            )
        return apply_spot_signal(self.account, at, target, price, params, self.rules)

    def _book(self, bookings: pa.Bookings) -> None:
        if bookings is pa.NOTHING:
            return
        # Position ids are per account ("1", "2", ...); the ledger's are global.
        positions = [replace(p, id=f"{self.id}#{p.id}") for p in bookings.positions]
        self._records.extend(bookings.fills, bookings.fees, (), positions)
        for note in bookings.notes:
            logger.info("{}: {}", self.id, note)

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        spot = isinstance(self.params, SpotParams)
        return pa.nav_record(self.account, at, last if spot else mark)

    def state(self) -> dict[str, Any]:
        return {"account": self.account}

    def restore(self, state: dict[str, Any]) -> None:
        self.account = state["account"]


class TokenRunner(_Base):
    """`token:<preset>`: holds the long token on a long signal, the short one on a short signal.

    Both funds live from the first price on, held or not, so a later subscription happens at
    the NAV the real token would show then. `cash` is USDT not invested; a subscription takes
    its cash when asked (also when deferred), a redemption pays out when it executes.
    """

    def __init__(
        self,
        portfolio_id: str,
        experiment: str,
        symbol: str,
        capital: float,
        specs: dict[Side, TokenSpec],
    ) -> None:
        super().__init__(portfolio_id, experiment, symbol)
        self.specs = specs
        self.funds: dict[Side, lt.TokenState] = {}
        self.cash = capital

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        events: list[TimedEvent] = []
        for side, fund in self.funds.items():
            for event in due_events(self.specs[side], fund, after, until):
                events.append(TimedEvent(event.at, event.kind, (side, event)))
        return events

    def apply_event(self, event: TimedEvent, price: float) -> None:
        side, token_event = event.payload
        assert isinstance(token_event, TokenTimedEvent)  # built by due_events above
        self._apply(side, lambda s, f: apply_timed_event(s, f, token_event, price))

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        for side in list(self.funds):
            self._apply(side, lambda s, f: lt.apply_funding(s, f, at, rate, mark))

    def on_price(self, at: datetime, last: float, mark: float, gap: bool, bar_close: bool) -> None:
        # The fund's underlying is the perp it holds, so it marks and trades at the mark.
        for side, spec in self.specs.items():
            fund = self.funds.get(side)
            if fund is None or fund.wiped_out and fund.units == 0 and not fund.pending:
                # Launch (or relaunch after a wipe-out nobody holds) at NAV 1 (assumption).
                self.funds[side] = lt.new_token(spec, at, mark)
                continue
            self._apply(side, lambda s, f: lt.on_price(s, f, at, mark, bar_close=bar_close))

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        target = _TARGETS[signal.direction]
        for side in self.funds:
            if side is not target and self._held_units(side) > 0:
                units = self._held_units(side)
                self._apply(side, lambda s, f, units=units: lt.redeem(s, f, at, units))
        if target is None or target not in self.funds or self.cash <= 0:
            return
        if self._held_units(target) > 0 or any(
            p.kind == lt.SUBSCRIBE for p in self.funds[target].pending
        ):
            return  # already in (or on the way in)
        if self.funds[target].wiped_out:
            return
        cash, self.cash = self.cash, 0.0
        self._apply(target, lambda s, f: lt.subscribe(s, f, at, cash))

    def _held_units(self, side: Side) -> float:
        fund = self.funds.get(side)
        if fund is None:
            return 0.0
        queued = sum(p.amount for p in fund.pending if p.kind == lt.REDEEM)
        return max(fund.units - queued, 0.0)

    def _apply(self, side: Side, transition: Any) -> None:
        fund = self.funds.get(side)
        if fund is None:
            return
        after, records = transition(self.specs[side], fund)
        self.funds[side] = after
        self._book(records)

    def _book(self, records: TokenRecords) -> None:
        for fill in records.fills:
            if fill.side == "sell":  # a redemption pays out; subscriptions paid when asked
                self.cash += fill.qty * fill.price - fill.fee
        self._records.extend(records.fills, records.fees, records.events)

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        value = sum(f.units * f.nav for f in self.funds.values())
        committed = sum(
            p.amount for f in self.funds.values() for p in f.pending if p.kind == lt.SUBSCRIBE
        )
        exposure = sum(f.units * f.qty * mark for f in self.funds.values())
        nav = self.cash + committed + value
        leverage = exposure / nav if nav > 0 else 0.0
        return NavRecord(at, nav, self.cash + committed, exposure, leverage, mark)

    def state(self) -> dict[str, Any]:
        return {"cash": self.cash, "funds": {side.name: f for side, f in self.funds.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.cash = state["cash"]
        self.funds = {Side[name]: fund for name, fund in state["funds"].items()}
