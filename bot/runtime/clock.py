"""Clocks: the only place in `bot/` that reads the wall clock or a monotonic timer.

Everything else receives a `Clock` (see `bot.engine.ports.Clock`), a timestamp argument or a
`Timer`, so live runs, replays and tests share one code path: `SystemClock` for `ltbot run`,
`ReplayClock` moved by the replay loop from the data, `FakeClock` moved by tests. All times are
UTC-aware. Durations (how long a step or a strategy call took, the sim exchange's running
clock) come from `monotonic` or a `Stopwatch`; ruff's banned-api (TID251) rejects
`datetime.now`, `time.time`, `time.monotonic`, `time.perf_counter` and the like anywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

# Seconds on a monotonic scale: only differences mean anything.
Timer = Callable[[], float]


def monotonic() -> float:
    """Seconds on the process's high-resolution monotonic timer (differences only)."""
    return time.perf_counter()


class Stopwatch:
    """Seconds elapsed on a `Timer` (the monotonic one by default), lap by lap."""

    __slots__ = ("_last", "_timer")

    def __init__(self, timer: Timer = monotonic) -> None:
        self._timer = timer
        self._last = timer()

    def lap(self) -> float:
        """Seconds since the previous lap (or the start); starts the next lap."""
        now = self._timer()
        elapsed, self._last = now - self._last, now
        return elapsed


def _require_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} (clocks are UTC-aware)")
    return at.astimezone(UTC)


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """The current wall-clock time (UTC)."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` of wall time (no-op when <= 0)."""
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: stands still until moved; `sleep` advances it instead of blocking."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_utc(start)

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (must be >= 0); return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a FakeClock backwards ({delta})")
        self._now += delta
        return self._now

    def set(self, at: datetime) -> None:
        """Jump to `at` (any direction: tests may rewind on purpose)."""
        self._now = _require_utc(at)

    def sleep(self, seconds: float) -> None:
        """Advance by `seconds` instead of blocking."""
        if seconds > 0:
            self.advance(timedelta(seconds=seconds))


class ReplayClock:
    """A clock moved by the replay loop to each data timestamp; it never goes backwards.

    Reading it before the first `set` raises, because a replay has no "now" before its data.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = None if start is None else _require_utc(start)

    def now(self) -> datetime:
        """The timestamp of the data being replayed."""
        if self._now is None:
            raise RuntimeError("ReplayClock read before the replay set a time")
        return self._now

    def set(self, at: datetime) -> None:
        """Move to `at`; moving backwards is a bug in the replay and raises ValueError."""
        at = _require_utc(at)
        if self._now is not None and at < self._now:
            raise ValueError(f"replay clock moved backwards: {at} < {self._now}")
        self._now = at

    def sleep(self, seconds: float) -> None:
        """Replays never wait: advance the replay time instead."""
        if seconds > 0:
            self.set(self.now() + timedelta(seconds=seconds))
