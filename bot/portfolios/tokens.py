"""The token runner: a `token:<preset>` portfolio holding the long or the short fund.

Both funds are `leveraged_token` funds kept as `Drift`s, so the quiet stretches of a price path
cost a few float operations per point (`leveraged_token.walk_quiet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from math import inf
from typing import Any

from bot.domain import leveraged_token as lt
from bot.domain.frozen import evolve
from bot.domain.price_path import check_time
from bot.domain.records import NavRecord, RefusalRecord
from bot.domain.token_records import TokenRecords, spot_fill
from bot.domain.token_schedule import (
    TokenTimedEvent,
    apply_funding,
    apply_timed_event,
    due_events,
)
from bot.domain.token_spec import TokenSpec, quiet_zone
from bot.domain.values import Refusal, Side
from bot.portfolios.protocol import TARGETS, PricePoint, RunnerBase, TimedEvent
from bot.strategy import Signal

_TWO_DAYS = timedelta(days=2)
# A token portfolio's NAV terms: USDT committed to deferred subscriptions, and per fund its
# Drift (for the NAV per unit), the units held and units x qty (the exposure per mark).
_NavTerms = tuple[float, tuple[tuple[lt.Drift, float, float], ...]]

# The last two datetime objects `check_time` accepted (see `TokenRunner.on_path`).
_checked: list[datetime | None] = [None, None]


class TokenRunner(RunnerBase):
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
        self._drifts: dict[Side, lt.Drift] = {}
        self._zones = {side: quiet_zone(spec) for side, spec in specs.items()}
        # Every fund in `specs` order once all are launched, else () (dropped by `_set`).
        self._walkers: tuple[lt.Drift, ...] | None = None
        # What `nav` needs besides the funds' NAVs and the mark (dropped by `_set`).
        self._terms: _NavTerms | None = None
        # Per side: the next scheduled event after `_schedule_after` (None: no schedule).
        self._schedule: dict[Side, tuple[datetime, datetime | None]] = {}
        # (from, until): no fund has a deferred request and no scheduled event is due for any
        # `after` >= from with `until` < until. Dropped whenever a fund changes (`_set`).
        self._idle: tuple[datetime, datetime | None] | None = None
        # Subscribed and redeemed today (USDT), against the presets' daily caps (issue 16).
        self._day: str | None = None
        self._used = [0.0, 0.0]

    has_timed_events = True  # management fees, daily rebalances, deferred requests

    @property
    def funds(self) -> dict[Side, lt.TokenState]:
        """The current state of each launched fund."""
        return {side: d.state() for side, d in self._drifts.items()}

    @funds.setter
    def funds(self, funds: dict[Side, lt.TokenState]) -> None:
        self._drifts, self._walkers, self._terms = {}, None, None
        for side, fund in funds.items():
            self._set(side, fund)

    def _set(self, side: Side, fund: lt.TokenState) -> None:
        drift = self._drifts.get(side)
        if drift is None or fund is not drift.base:
            self._drifts[side] = lt.Drift(self.specs[side], self._zones[side], fund)
            self._walkers = self._terms = None
            if drift is None or fund.pending:  # `_idle` holds for the funds it has seen
                self._idle = None  # while none has a deferred request (the schedule is fixed)

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
            self._apply(side, lambda s, f: apply_funding(s, f, at, rate, mark))

    def on_path(self, points: Sequence[PricePoint]) -> None:
        """Walk the funds through the points where all stay quiet (`lt.walk_quiet`: nothing is
        recorded there); a point where one may act goes fund by fund, in `specs` order."""
        checked = None
        for point in points:
            at = point[0]
            if at is not checked:  # a path carries one or two datetime objects
                checked = at
                # check_time, once per datetime object: a step hands the same two (a bar's
                # open time and the step time) to every fund.
                if at is not _checked[0] and at is not _checked[1]:
                    check_time(at)
                    _checked[1], _checked[0] = _checked[0], at
        start, end = 0, len(points)
        while start < end:
            walkers = self._walkers
            if walkers is None:
                drifts = tuple(self._drifts[s] for s in self.specs if s in self._drifts)
                walkers = self._walkers = drifts if len(drifts) == len(self.specs) else ()
            stop = lt.walk_quiet(walkers, points, start, end) if walkers else start
            if stop == end:
                return
            self._on_point(points, stop)
            start = stop + 1

    def _on_point(self, points: Sequence[PricePoint], k: int) -> None:
        # The fund's underlying is the perp it holds, so it marks and trades at the mark.
        at, _, mark, gap, bar_close = points[k]
        for side, spec in self.specs.items():
            drift = self._drifts.get(side)
            if drift is not None and lt.walk_quiet((drift,), points, k, k + 1) > k:
                continue  # this fund only re-prices here
            fund = None if drift is None else drift.state()
            if fund is None or fund.wiped_out and fund.units == 0 and not fund.pending:
                # Launch (or relaunch after a wipe-out nobody holds) at NAV 1 (assumption).
                self._set(side, lt.new_token(spec, at, mark))
                continue
            self._apply(
                side, lambda s, f: lt.on_price(s, f, at, mark, bar_close=bar_close, gap=gap)
            )

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        target = TARGETS[signal.direction]
        for side in list(self._drifts):
            if side is not target and self._held_units(side) > 0:
                self._exit(side, at, self._held_units(side))
        drift = None if target is None else self._drifts.get(target)
        if target is None or drift is None or self.cash <= 0:
            return
        fund = drift.base  # units, requests and wipe-out never drift
        if self._held_units(target) > 0 or any(p.kind == lt.SUBSCRIBE for p in fund.pending):
            return  # already in (or on the way in)
        if fund.wiped_out:
            return
        cash, self.cash = self.cash, 0.0
        self._enter(target, at, cash)

    def _enter(self, side: Side, at: datetime, cash: float) -> None:
        # Route (issue 16): subscribe up to the day's cap; the rest goes to the spot market
        # ("auto") or back to cash, refused and counted; "spot" buys it all on the market.
        spec = self.specs[side]
        allowed = 0.0 if spec.route == "spot" else self._cap_left(at, 0, spec)
        if (taken := min(cash, allowed)) > 0:
            self._used[0] += taken
            self._apply(side, lambda s, f: lt.subscribe(s, f, at, taken))
        if (rest := cash - taken) > 0:
            self._over_cap(side, at, rest, buy=True)

    def _exit(self, side: Side, at: datetime, units: float) -> None:
        # As `_enter`; the redemption cap is in USDT at the NAV of the request.
        spec, nav = self.specs[side], self._drifts[side].nav
        left = 0.0 if spec.route == "spot" else self._cap_left(at, 1, spec)
        cap = left / nav if nav > 0 else (inf if left > 0 else 0.0)  # a wiped fund is worth 0
        if (taken := units if cap >= units else cap) > 0:
            self._used[1] += taken * nav
            self._apply(side, lambda s, f: lt.redeem(s, f, at, taken))
        if (rest := units - taken) > 0:
            self._over_cap(side, at, rest, buy=False)

    def _over_cap(self, side: Side, at: datetime, amount: float, buy: bool) -> None:
        if self.specs[side].route == "subscribe":
            self.cash += amount if buy else 0.0  # a refused redemption keeps its units
            self._out().refusals.append(RefusalRecord(at, Refusal.DAILY_CAP))
            return

        def trade(spec: TokenSpec, fund: lt.TokenState) -> tuple[lt.TokenState, TokenRecords]:
            change, records = spot_fill(spec, fund, at, amount, buy=buy)
            return evolve(fund, units=max(fund.units + change, 0.0)), records

        self._apply(side, trade)

    def _cap_left(self, at: datetime, kind: int, spec: TokenSpec) -> float:
        # USDT left today (UTC) under the subscription (kind 0) or redemption (1) cap.
        day = at.date().isoformat()
        if self._day != day:
            self._day, self._used = day, [0.0, 0.0]
        cap = (spec.daily_subscription_cap, spec.daily_redemption_cap)[kind]
        return inf if cap is None else max(cap - self._used[kind], 0.0)

    def _held_units(self, side: Side) -> float:
        drift = self._drifts.get(side)
        if drift is None:
            return 0.0
        fund = drift.base  # units and requests never drift
        queued = sum(p.amount for p in fund.pending if p.kind == lt.REDEEM) if fund.pending else 0
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
        if records.fills or records.fees or records.events:
            self._out().extend(records.fills, records.fees, records.events)

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        # Units, quantity and requests never drift, so no TokenState is built for a snapshot,
        # and they are summed once per set of funds (`_nav_terms`). Each sum starts from the
        # int 0, as `sum` does, so a runner without funds reports the same values.
        committed, holdings = self._terms or self._nav_terms()
        value: float | int = 0  # mypyc: a float variable cannot start from the int 0
        exposure: float | int = 0
        for drift, units, size in holdings:
            value += units * drift.nav
            exposure += size * mark
        nav = self.cash + committed + value
        leverage = exposure / nav if nav > 0 else 0.0
        return NavRecord(at, nav, self.cash + committed, exposure, leverage, mark)

    def _nav_terms(self) -> _NavTerms:
        drifts = self._drifts.values()
        committed = sum(p.amount for d in drifts for p in d.base.pending if p.kind == lt.SUBSCRIBE)
        holdings = tuple((d, d.base.units, d.base.units * d.base.qty) for d in drifts)
        terms = self._terms = (committed, holdings)
        return terms

    def died(self, nav: NavRecord) -> str | None:
        # A token portfolio has no income once its NAV is gone (a fund wiped out with
        # everything in it): under a cent of USDT counts as gone.
        if self.died_at is not None or nav.nav >= 0.01:
            return None
        self.died_at = nav.at
        return f"NAV {nav.nav:.2f} USDT (wiped out)"

    def state(self) -> dict[str, Any]:
        funds = {side.name: f for side, f in self.funds.items()}
        caps = {"day": self._day, "subscribed": self._used[0], "redeemed": self._used[1]}
        return {"cash": self.cash, "funds": funds, "died_at": self.died_at, "caps": caps}

    def restore(self, state: dict[str, Any]) -> None:
        self.cash = state["cash"]
        self.funds = {Side[name]: fund for name, fund in state["funds"].items()}
        self.died_at = state.get("died_at")
        caps = state.get("caps") or {"day": None, "subscribed": 0.0, "redeemed": 0.0}
        self._day, self._used = caps["day"], [caps["subscribed"], caps["redeemed"]]
