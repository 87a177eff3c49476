"""Timed events of a leveraged token: which are due in (after, until], and how to apply one.

Funding times come from the exchange, so the engine settles those itself with
`apply_funding`; everything the preset schedules is listed by `due_events`. The carry
transitions (funding, management fee) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache

from bot.domain.leveraged_token import (
    TokenState,
    apply_daily_rebalance,
    mark,
    release_pending,
    wipe,
)
from bot.domain.price_path import check_price, check_time
from bot.domain.token_records import NO_RECORDS, TokenRecords, carry_step, holder_fee
from bot.domain.token_spec import TokenSpec, seconds_of_day
from bot.domain.values import FeeKind

MANAGEMENT_FEE = "management_fee"
DAILY_REBALANCE = "daily_rebalance"
RELEASE = "release"
# At one instant the fee comes first, then the rebalance (so λ = L right after it), then
# deferred requests (assumption: no exchange states an order for coinciding events).
_RANK = {MANAGEMENT_FEE: 0, DAILY_REBALANCE: 1, RELEASE: 2}
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, order=True)
class TokenTimedEvent:
    """A scheduled fund event at `at` (UTC); `rank` orders events at the same instant."""

    at: datetime
    rank: int
    kind: str

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(self, at: datetime, rank: int, kind: str) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "kind", kind)


def due_events(
    spec: TokenSpec, state: TokenState | None, after: datetime, until: datetime
) -> list[TokenTimedEvent]:
    """List the preset's timed events in (after, until], in time order.

    Management fee and daily rebalance come from `spec`; with a `state` holding deferred
    requests, the end of its rebalance window is a RELEASE event too.
    """
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("due_events needs timezone-aware UTC datetimes")
    events: list[TokenTimedEvent] = []
    if spec.management_fee_pct > 0 and spec.management_time is not None:
        events += _daily(spec.management_time, MANAGEMENT_FEE, after, until)
    if spec.daily_time is not None:
        events += _daily(spec.daily_time, DAILY_REBALANCE, after, until)
    release = state.busy_until if state is not None and state.pending else None
    if release is not None and after < release <= until:
        events.append(TokenTimedEvent(release, _RANK[RELEASE], RELEASE))
    return sorted(events)


def apply_funding(
    spec: TokenSpec, state: TokenState, at: datetime, rate: float, mark: float
) -> tuple[TokenState, TokenRecords]:
    """Settle one funding payment into NAV: N ← N − qty·mark·rate (long pays when rate > 0).

    `rate` is the fraction per funding interval; no-op when the preset has no funding
    pass-through (Gate's all-in fee) or the fund is wiped out.
    """
    check_time(at, state.at)
    check_price(mark)
    if not spec.funding_pass_through or state.wiped_out or rate == 0:
        return state.moved_to(at, state.price, state.nav), NO_RECORDS
    paid = state.qty * mark * rate
    nav = state.nav - paid
    # Funding is settled in cash: an impossible charge beyond the NAV ends the fund at zero.
    after = state.moved_to(at, state.price, nav)
    after = wipe(after) if nav <= 0 else after
    step = carry_step(at, state, after, funding=True)
    fees = holder_fee(state, at, FeeKind.FUNDING, paid)
    return after, TokenRecords(fees=fees, steps=(step,))


def apply_management_fee(
    spec: TokenSpec, state: TokenState, at: datetime
) -> tuple[TokenState, TokenRecords]:
    """Take the daily management fee from NAV: N ← N·(1 − m). Only current holders pay."""
    check_time(at, state.at)
    if spec.management_fee_pct == 0 or state.wiped_out:
        return state.moved_to(at, state.price, state.nav), NO_RECORDS
    charged = state.nav * spec.management_fee_pct
    # Assumption: the fee is taken from collateral, so the perp quantity is unchanged.
    after = state.moved_to(at, state.price, state.nav - charged)
    step = carry_step(at, state, after, funding=False)
    fees = holder_fee(state, at, FeeKind.MANAGEMENT, charged)
    return after, TokenRecords(fees=fees, steps=(step,))


def apply_timed_event(
    spec: TokenSpec, state: TokenState, event: TokenTimedEvent, price: float
) -> tuple[TokenState, TokenRecords]:
    """Apply one due event at `price`, the latest valid price at or before `event.at`."""
    if event.kind == MANAGEMENT_FEE:
        # The fee is a fraction of the NAV at its own time, so mark to that price first.
        marked, records = mark(spec, state, event.at, price)
        charged, fee_records = apply_management_fee(spec, marked, event.at)
        return charged, records + fee_records
    if event.kind == DAILY_REBALANCE:
        return apply_daily_rebalance(spec, state, event.at, price)
    if event.kind == RELEASE:
        return release_pending(spec, state, event.at)
    raise ValueError(f"unknown token event kind {event.kind!r}")


def _daily(text: str, kind: str, after: datetime, until: datetime) -> list[TokenTimedEvent]:
    # The first time of day after `after` is on its UTC day or the next; then one a day.
    at = datetime.combine(after.astimezone(UTC).date(), _clock(text))
    if at <= after:
        at += _DAY
    found = []
    while at <= until:
        found.append(TokenTimedEvent(at, _RANK[kind], kind))
        at += _DAY
    return found


@cache
def _clock(text: str) -> time:
    # A preset has one or two times of day: each is parsed once per process.
    seconds = seconds_of_day(text)
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60, tzinfo=UTC)
