"""Timed events of a leveraged token: which are due in (after, until], and how to apply one.

Funding times come from the exchange, so the engine settles those itself with
`leveraged_token.apply_funding`; everything the preset schedules is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.domain.leveraged_token import (
    TokenState,
    apply_daily_rebalance,
    apply_management_fee,
    mark,
    release_pending,
)
from bot.domain.token_records import TokenRecords
from bot.domain.token_spec import TokenSpec, seconds_of_day

MANAGEMENT_FEE = "management_fee"
DAILY_REBALANCE = "daily_rebalance"
RELEASE = "release"
# At one instant the fee comes first, then the rebalance (so λ = L right after it), then
# deferred requests (assumption: no exchange states an order for coinciding events).
_RANK = {MANAGEMENT_FEE: 0, DAILY_REBALANCE: 1, RELEASE: 2}


@dataclass(frozen=True, slots=True, order=True)
class TokenTimedEvent:
    """A scheduled fund event at `at` (UTC); `rank` orders events at the same instant."""

    at: datetime
    rank: int
    kind: str


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
    seconds = seconds_of_day(text)
    clock = time(seconds // 3600, seconds % 3600 // 60, seconds % 60, tzinfo=UTC)
    first = after.astimezone(UTC).date()
    days = (until.astimezone(UTC).date() - first).days
    found = []
    for offset in range(days + 1):
        at = datetime.combine(first + timedelta(days=offset), clock)
        if after < at <= until:
            found.append(TokenTimedEvent(at, _RANK[kind], kind))
    return found
