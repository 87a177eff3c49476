"""Portfolio runners: adapt the pure vehicles (token fund, perp, static perp, spot) to the engine.

Each runner owns one portfolio's domain state, applies what the engine tells it, and keeps the
ledger records until the engine drains them. Domain errors from a signal (a stop on the wrong
side of the price, for example) are logged and cost that signal, never the daemon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from bot.domain import leveraged_token as lt
from bot.domain import perp_account as pa
from bot.domain.ledger import NavRecord
from bot.domain.liquidation import Tier
from bot.domain.perp import PerpParams, PerpPosition, StaticPerpParams, quiet_band
from bot.domain.perp_vehicle import apply_perp_signal, apply_static_signal
from bot.domain.sizing import MarketRules
from bot.domain.spot import SpotParams, apply_spot_signal, new_spot_account
from bot.domain.token_records import TokenRecords
from bot.domain.token_schedule import TokenTimedEvent, apply_timed_event, due_events
from bot.domain.token_spec import QuietZone, TokenSpec, quiet_zone
from bot.domain.values import Side
from bot.portfolios.port import NO_RECORDS, PricePoint, Records, TimedEvent
from bot.strategy import Direction, Signal

_TARGETS = {Direction.LONG: Side.LONG, Direction.SHORT: Side.SHORT, Direction.FLAT: None}
_INF = math.inf
_TWO_DAYS = timedelta(days=2)


class _Base:
    def __init__(self, portfolio_id: str, experiment: str, symbol: str) -> None:
        self.id = portfolio_id
        self.experiment = experiment
        self.symbol = symbol
        self._records = Records()
        self.refused_signals = 0

    def drain(self) -> Records:
        records = self._records
        if not (records.fills or records.fees or records.token_events or records.positions):
            return NO_RECORDS  # most steps: no new Records object per portfolio
        self._records = Records()
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
        self._band: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self._band_of: PerpPosition | None = None  # the position `_band` belongs to

    # Funding is the engine's; an account has no other timed events (the engine skips it).
    has_timed_events = False

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        return []

    def apply_event(self, event: TimedEvent, price: float) -> None:
        raise ValueError(f"{self.id}: unexpected timed event {event.kind!r}")

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        self.account, bookings = pa.apply_funding(self.account, at, rate, mark)
        self._book(bookings)

    def on_price(self, at: datetime, last: float, mark: float, gap: bool, bar_close: bool) -> None:
        pos = self.account.position
        if pos is None:
            return  # nothing can trigger (pa.on_price returns the account as it is)
        if pos is not self._band_of:
            self._band, self._band_of = quiet_band(pos), pos
        lo, hi, mark_lo, mark_hi = self._band
        price = mark if pos.stop_trigger == "mark" else last
        if lo < price < hi and mark_lo < mark < mark_hi and last > 0.0:
            return  # inside the quiet band: no trigger and the position does not move
        self.account, bookings = pa.on_price(self.account, at, last, mark, gap=gap)
        self._book(bookings)

    def on_path(self, points: Sequence[PricePoint]) -> None:
        """`on_price` for each point in order (the engine's fast way in)."""
        pos = self.account.position
        i, end = 0, len(points)
        while pos is not None and i < end:  # prices alone never open a position
            if pos is not self._band_of:
                self._band, self._band_of = quiet_band(pos), pos
            lo, hi, mark_lo, mark_hi = self._band
            by_mark = pos.stop_trigger == "mark"
            while i < end:  # skip the points inside the quiet band
                at, last, mark, gap, _ = points[i]
                price = mark if by_mark else last
                if not (lo < price < hi and mark_lo < mark < mark_hi and last > 0.0):
                    break
                i += 1
            else:
                return
            self.account, bookings = pa.on_price(self.account, at, last, mark, gap=gap)
            self._book(bookings)
            pos = self.account.position
            i += 1

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


class _Drift:
    """A fund's price-only moves since its last `TokenState` (the token runner's fast path).

    Between two transitions that do more than re-price (a rebalance, a fee, a request, a
    split), `lt.on_price` only sets `at`, `price` and `nav = nav + qty·(price − previous)`.
    The runner keeps those three numbers here and builds the `TokenState` only when someone
    needs it, with the very same float arithmetic, so the result is bit-identical.
    """

    __slots__ = ("base", "at", "price", "nav", "qty", "rebalance_price", "quiet", "nav_floor")

    def __init__(self, base: lt.TokenState, zone: QuietZone | None, spec: TokenSpec | None) -> None:
        self.base = base
        self.at, self.price, self.nav = base.at, base.price, base.nav
        self.qty, self.rebalance_price = base.qty, base.rebalance_price
        # Only a live fund with nothing deferred can take the fast path (zone None: never).
        self.quiet = zone if not base.wiped_out and not base.pending else None
        # Below it a reverse split is due (and NAV <= 0 is a wipe-out): the slow path decides.
        self.nav_floor = (spec.split_threshold_nav if spec else None) or 0.0

    def state(self) -> lt.TokenState:
        base = self.base
        if self.at is not base.at or self.price != base.price or self.nav != base.nav:
            base = self.base = replace(base, at=self.at, price=self.price, nav=self.nav)
        return base


_checked: list[datetime | None] = [None, None]


def _check_time(at: datetime) -> None:
    # lt.check_time, once per datetime object: a step hands the same two (a bar's open time
    # and the step time) to every fund.
    if at is not _checked[0] and at is not _checked[1]:
        lt.check_time(at)
        _checked[1], _checked[0] = _checked[0], at


def _quiet_run(
    drift: _Drift | None, points: Sequence[PricePoint], start: int, end: int
) -> tuple[int, float]:
    # The first point in [start, end) where the fund may act, and its NAV just before it: the
    # fast path of `TokenRunner.on_price` over a path, with the fund's numbers in locals.
    if drift is None or (zone := drift.quiet) is None:
        return start, 0.0
    when, price, nav, qty = drift.at, drift.price, drift.nav, drift.qty
    floor, reference, continuous = drift.nav_floor, drift.rebalance_price, zone.continuous
    lev_lo, lev_hi, move_lo, move_hi = zone.lev_lo, zone.lev_hi, zone.move_lo, zone.move_hi
    for i in range(start, end):
        at, _, mark, _, bar_close = points[i]
        if not (at >= when and 0.0 < mark < _INF):
            return i, nav
        moved = nav + qty * (mark - price)
        if not (moved > 0.0 and moved >= floor):
            return i, nav
        if (bar_close or continuous) and not (
            lev_lo < abs(qty * mark / moved) < lev_hi and move_lo < mark / reference - 1 < move_hi
        ):
            return i, nav
        when, price, nav = at, mark, moved
    return end, nav


def _quiet_pair(
    a: _Drift, b: _Drift, points: Sequence[PricePoint], start: int, end: int
) -> tuple[int, float, float]:
    # `_quiet_run` for the long and the short fund at once (one pass over the points): the
    # first point in [start, end) where either may act, and both NAVs just before it. Each
    # fund's numbers follow the very same arithmetic as in `_quiet_run`.
    za, zb = a.quiet, b.quiet
    assert za is not None and zb is not None  # the caller checks
    when_a, price_a, nav_a, qty_a = a.at, a.price, a.nav, a.qty
    when_b, price_b, nav_b, qty_b = b.at, b.price, b.nav, b.qty
    floor_a, ref_a, cont_a = a.nav_floor, a.rebalance_price, za.continuous
    floor_b, ref_b, cont_b = b.nav_floor, b.rebalance_price, zb.continuous
    for i in range(start, end):
        at, _, mark, _, bar_close = points[i]
        if not (at >= when_a and at >= when_b and 0.0 < mark < _INF):
            return i, nav_a, nav_b
        moved_a = nav_a + qty_a * (mark - price_a)
        moved_b = nav_b + qty_b * (mark - price_b)
        if not (moved_a > 0.0 and moved_a >= floor_a and moved_b > 0.0 and moved_b >= floor_b):
            return i, nav_a, nav_b
        if (bar_close or cont_a) and not (
            za.lev_lo < abs(qty_a * mark / moved_a) < za.lev_hi
            and za.move_lo < mark / ref_a - 1 < za.move_hi
        ):
            return i, nav_a, nav_b
        if (bar_close or cont_b) and not (
            zb.lev_lo < abs(qty_b * mark / moved_b) < zb.lev_hi
            and zb.move_lo < mark / ref_b - 1 < zb.move_hi
        ):
            return i, nav_a, nav_b
        when_a = when_b = at
        price_a = price_b = mark
        nav_a, nav_b = moved_a, moved_b
    return end, nav_a, nav_b


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
        self.cash = capital
        self._drifts: dict[Side, _Drift] = {}
        self._zones = {side: quiet_zone(spec) for side, spec in specs.items()}
        # Per side: the next scheduled event after `_schedule_after` (None: no schedule).
        self._schedule: dict[Side, tuple[datetime, datetime | None]] = {}
        # (from, until): no fund has a deferred request and no scheduled event is due for any
        # `after` >= from with `until` < until. Dropped whenever a fund changes (`_set`).
        self._idle: tuple[datetime, datetime | None] | None = None

    @property
    def funds(self) -> dict[Side, lt.TokenState]:
        """The current state of each launched fund."""
        return {side: d.state() for side, d in self._drifts.items()}

    @funds.setter
    def funds(self, funds: dict[Side, lt.TokenState]) -> None:
        self._drifts = {}
        for side, fund in funds.items():
            self._set(side, fund)

    def _set(self, side: Side, fund: lt.TokenState) -> None:
        drift = self._drifts.get(side)
        if drift is None or fund is not drift.base:
            self._drifts[side] = _Drift(fund, self._zones.get(side), self.specs.get(side))
            self._idle = None  # a new state may carry a deferred request

    def _fund(self, side: Side) -> lt.TokenState | None:
        drift = self._drifts.get(side)
        return None if drift is None else drift.state()

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        idle = self._idle
        if idle is not None and idle[0] <= after and (idle[1] is None or until < idle[1]):
            return []  # nothing changed since a call that found nothing due until `idle[1]`
        events: list[TimedEvent] = []
        quiet, next_due = True, None
        for side, drift in self._drifts.items():
            fund = drift.base  # the schedule and deferred requests never drift
            if not fund.pending and not self._may_be_due(side, after, until):
                upcoming = self._schedule[side][1]
                if upcoming is not None and (next_due is None or upcoming < next_due):
                    next_due = upcoming
                continue
            quiet = False
            for event in due_events(self.specs[side], fund, after, until):
                events.append(TimedEvent(event.at, event.kind, (side, event)))
        # Each side's cached schedule holds for `after` in [its start, its next event), so the
        # whole runner is idle while `until` stays before the earliest next event.
        self._idle = (after, next_due) if quiet and self._drifts else None
        return events

    def _may_be_due(self, side: Side, after: datetime, until: datetime) -> bool:
        # The preset's events are daily: none is due before the first one after `after`,
        # which stays valid while `after` moves forward but not past it.
        cached = self._schedule.get(side)
        if cached is None or after < cached[0] or (cached[1] is not None and after >= cached[1]):
            ahead = due_events(self.specs[side], None, after, after + _TWO_DAYS)
            cached = self._schedule[side] = (after, ahead[0].at if ahead else None)
        return cached[1] is not None and until >= cached[1]

    def apply_event(self, event: TimedEvent, price: float) -> None:
        side, token_event = event.payload
        assert isinstance(token_event, TokenTimedEvent)  # built by due_events above
        self._apply(side, lambda s, f: apply_timed_event(s, f, token_event, price))

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        for side in list(self._drifts):
            self._apply(side, lambda s, f: lt.apply_funding(s, f, at, rate, mark))

    def on_price(self, at: datetime, last: float, mark: float, gap: bool, bar_close: bool) -> None:
        # The fund's underlying is the perp it holds, so it marks and trades at the mark.
        _check_time(at)
        drifts = self._drifts
        for side, spec in self.specs.items():
            drift = drifts.get(side)
            # Fast path: the arithmetic of lt._move and the rule checks of lt.on_price, taken
            # only when no rule, release, split or wipe-out can happen at this price.
            if (
                drift is not None
                and (zone := drift.quiet) is not None
                and at >= drift.at
                and 0.0 < mark < _INF
            ):
                nav = drift.nav + drift.qty * (mark - drift.price)
                if (
                    nav > 0.0
                    and nav >= drift.nav_floor
                    and (
                        not (bar_close or zone.continuous)
                        or (
                            zone.lev_lo < abs(drift.qty * mark / nav) < zone.lev_hi
                            and zone.move_lo < mark / drift.rebalance_price - 1 < zone.move_hi
                        )
                    )
                ):
                    drift.at, drift.price, drift.nav = at, mark, nav
                    continue
            fund = None if drift is None else drift.state()
            if fund is None or fund.wiped_out and fund.units == 0 and not fund.pending:
                # Launch (or relaunch after a wipe-out nobody holds) at NAV 1 (assumption).
                self._set(side, lt.new_token(spec, at, mark))
                continue
            self._apply(side, lambda s, f: lt.on_price(s, f, at, mark, bar_close=bar_close))

    def on_path(self, points: Sequence[PricePoint]) -> None:
        """`on_price` for each point in order (the engine's fast way in).

        Runs of points where every fund stays quiet are applied fund by fund (nothing is
        recorded there, so the order does not matter); a point where any fund may act goes
        through `on_price`, so records keep the point-by-point order.
        """
        checked = None
        for point in points:
            if point[0] is not checked:  # a path carries one or two datetime objects
                checked = point[0]
                _check_time(checked)
        start, end = 0, len(points)
        pair = tuple(self.specs) if len(self.specs) == 2 else None
        while start < end:
            if pair is not None:  # the usual token: a long and a short fund, both quiet
                a, b = self._drifts.get(pair[0]), self._drifts.get(pair[1])
                if a is not None and b is not None and a.quiet is not None and b.quiet is not None:
                    stop, nav_a, nav_b = _quiet_pair(a, b, points, start, end)
                    if stop > start:
                        at, price = points[stop - 1][0], points[stop - 1][2]
                        a.at, a.price, a.nav = at, price, nav_a
                        b.at, b.price, b.nav = at, price, nav_b
                    if stop == end:
                        return
                    self.on_price(*points[stop])
                    start = stop + 1
                    continue
            stop, runs = end, []
            for side in self.specs:
                drift = self._drifts.get(side)
                quiet, nav = _quiet_run(drift, points, start, stop)
                runs.append((drift, quiet, nav))
                stop = min(stop, quiet)
            if stop > start:
                at, price = points[stop - 1][0], points[stop - 1][2]
                for drift, quiet, nav in runs:
                    assert drift is not None  # a missing fund stops the run at `start`
                    if quiet > stop:  # ran past a point where another fund acts: redo
                        nav = _quiet_run(drift, points, start, stop)[1]
                    drift.at, drift.price, drift.nav = at, price, nav
            if stop == end:
                return
            self.on_price(*points[stop])
            start = stop + 1

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        target = _TARGETS[signal.direction]
        for side in list(self._drifts):
            if side is not target and self._held_units(side) > 0:
                units = self._held_units(side)
                self._apply(side, lambda s, f, units=units: lt.redeem(s, f, at, units))
        drift = None if target is None else self._drifts.get(target)
        if target is None or drift is None or self.cash <= 0:
            return
        fund = drift.base  # units, requests and wipe-out never drift
        if self._held_units(target) > 0 or any(p.kind == lt.SUBSCRIBE for p in fund.pending):
            return  # already in (or on the way in)
        if fund.wiped_out:
            return
        cash, self.cash = self.cash, 0.0
        self._apply(target, lambda s, f: lt.subscribe(s, f, at, cash))

    def _held_units(self, side: Side) -> float:
        drift = self._drifts.get(side)
        if drift is None:
            return 0.0
        fund = drift.base  # units and requests never drift
        queued = sum(p.amount for p in fund.pending if p.kind == lt.REDEEM)
        return max(fund.units - queued, 0.0)

    def _apply(self, side: Side, transition: Any) -> None:
        fund = self._fund(side)
        if fund is None:
            return
        after, records = transition(self.specs[side], fund)
        self._set(side, after)
        self._book(records)

    def _book(self, records: TokenRecords) -> None:
        for fill in records.fills:
            if fill.side == "sell":  # a redemption pays out; subscriptions paid when asked
                self.cash += fill.qty * fill.price - fill.fee
        self._records.extend(records.fills, records.fees, records.events)

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        # Units, quantity and requests never drift, so no TokenState is built for a snapshot.
        drifts = self._drifts.values()
        value = sum(d.base.units * d.nav for d in drifts)
        committed = sum(p.amount for d in drifts for p in d.base.pending if p.kind == lt.SUBSCRIBE)
        exposure = sum(d.base.units * d.qty * mark for d in drifts)
        nav = self.cash + committed + value
        leverage = exposure / nav if nav > 0 else 0.0
        return NavRecord(at, nav, self.cash + committed, exposure, leverage, mark)

    def state(self) -> dict[str, Any]:
        return {"cash": self.cash, "funds": {side.name: f for side, f in self.funds.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.cash = state["cash"]
        self.funds = {Side[name]: fund for name, fund in state["funds"].items()}
