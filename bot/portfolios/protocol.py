"""The port between the engine and one portfolio's vehicle (token, perp, perp_static, spot).

A runner wraps the pure domain state of one portfolio, applies what the engine tells it, and
collects the ledger records it produced until the engine drains them at the end of the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from loguru import logger

from bot.domain.price_path import PricePoint
from bot.domain.records import (
    FeeRecord,
    FillRecord,
    NavRecord,
    PositionRecord,
    RefusalRecord,
    TokenEventRecord,
    rebase_fees,
)
from bot.domain.values import Side
from bot.strategy import Direction, Signal

__all__ = [
    "NO_RECORDS",
    "TARGETS",
    "PortfolioRunner",
    "PricePoint",
    "Records",
    "RunnerBase",
    "TimedEvent",
]


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """A vehicle's own timed event (management fee, scheduled rebalance, deferred request);
    `payload` is the vehicle's own description of it."""

    at: datetime
    kind: str
    payload: Any = None


@dataclass(slots=True)
class Records:
    """Ledger records collected during one step (positions are upserts)."""

    fills: list[FillRecord] = field(default_factory=list)
    fees: list[FeeRecord] = field(default_factory=list)
    token_events: list[TokenEventRecord] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    refusals: list[RefusalRecord] = field(default_factory=list)

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py. It takes no lists
    # (nothing passes any): every one starts empty, as the default factories say, and a
    # step's records are only ever appended.
    def __init__(self) -> None:
        self.fills, self.fees, self.token_events, self.positions = [], [], [], []
        self.refusals = []

    def __bool__(self) -> bool:
        return bool(self.fills or self.fees or self.token_events or self.positions or self.refusals)

    def extend(
        self,
        fills: list[FillRecord] | tuple[FillRecord, ...] = (),
        fees: list[FeeRecord] | tuple[FeeRecord, ...] = (),
        token_events: list[TokenEventRecord] | tuple[TokenEventRecord, ...] = (),
        positions: list[PositionRecord] | tuple[PositionRecord, ...] = (),
    ) -> None:
        """Append records; fee `fill_index` values are relative to `fills` and re-based here."""
        base = len(self.fills)
        self.fills.extend(fills)
        self.fees.extend(rebase_fees(fees, base))
        self.token_events.extend(token_events)
        self.positions.extend(positions)


# What a runner's `drain` may return for a step without records: shared, so read-only by
# contract (the engine tells it apart by identity before asking `bool`).
NO_RECORDS = Records()


class PortfolioRunner(Protocol):
    """What the engine needs from one portfolio."""

    id: str
    experiment: str
    symbol: str
    has_timed_events: bool
    """False when `due_events` is always empty, so the engine never asks."""

    def due_events(self, after: datetime, until: datetime) -> list[TimedEvent]:
        """The vehicle's timed events in (after, until], in time order."""
        ...

    def apply_event(self, event: TimedEvent, price: float) -> None:
        """Apply one due timed event at the latest price at or before its time."""
        ...

    def apply_funding(self, at: datetime, rate: float, mark: float) -> None:
        """Settle funding at `at` (rate per interval, > 0 longs pay; mark in USDT)."""
        ...

    def on_path(self, points: Sequence[PricePoint]) -> None:
        """React to each point of a price path in order: liquidation, stops, band rebalances.

        `gap`: the price may have jumped there (a new tick or a bar's open); `bar_close`: the
        point closes a bar or is a tick (checks of "bar close" monitoring run there). Records
        keep the points' order."""
        ...

    def on_signal(self, at: datetime, signal: Signal, price: float) -> None:
        """Act on the strategy's signal at `price`."""
        ...

    def drain(self) -> Records:
        """Return and forget the records produced since the last drain."""
        ...

    def nav(self, at: datetime, last: float, mark: float) -> NavRecord:
        """Snapshot the portfolio (perps and tokens mark at `mark`, spot at `last`)."""
        ...

    def died(self, nav: NavRecord) -> str | None:
        """The cause when the portfolio dies at this NAV snapshot (the first time only): its
        NAV reached 0 or cannot pay for the smallest order any more; else None."""
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot of everything needed to resume after a restart."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from `state()` output."""
        ...


TARGETS = {Direction.LONG: Side.LONG, Direction.SHORT: Side.SHORT, Direction.FLAT: None}
"""The side a signal asks to hold (None: flat)."""


class RunnerBase:
    """What every runner shares: its identity and the records of the step."""

    def __init__(self, portfolio_id: str, experiment: str, symbol: str) -> None:
        self.id = portfolio_id
        self.experiment = experiment
        self.symbol = symbol
        self._records: Records | None = None  # made by `_out` when a step produces any
        self.died_at: datetime | None = None  # when `died` said so (kept across restarts)

    def drain(self) -> Records:
        """Return and forget the records produced since the last drain."""
        records, self._records = self._records, None
        # Most steps produce none: no Records object per portfolio and step.
        return records if records is not None and records else NO_RECORDS

    def _out(self) -> Records:
        # The records of the current step, made on the first one.
        records = self._records
        if records is None:
            records = self._records = Records()
        return records

    def _refused(self, at: datetime, signal: Signal, exc: ValueError) -> None:
        logger.warning(
            "{}: {} signal at {} refused: {}", self.id, signal.direction.value, at.isoformat(), exc
        )
