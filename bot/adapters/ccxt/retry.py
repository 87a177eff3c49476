"""Retries with exponential backoff and jitter, honouring Retry-After; one log line per streak.

Free of ccxt on purpose: the caller passes which exception types are transient and how to read
the last response's headers, so this is testable with plain functions and a fake sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar

from loguru import logger

T = TypeVar("T")


class RetryLater(RuntimeError):
    """The exchange asked for a pause (Retry-After) longer than we wait inline: no request is
    made until then, and the caller skips its work."""


@dataclass(slots=True)
class RetryStats:
    """Counters for the run summary."""

    requests_failed: int = 0  # failed attempts, retried or not
    retries: int = 0
    polls_skipped: int = 0
    streaks: int = 0


@dataclass(slots=True)
class _Streak:
    started: datetime
    failures: int = 0
    polls_skipped: int = 0


@dataclass
class Backoff:
    """Exponential backoff with jitter: attempt n waits base * 2**n seconds, capped at
    `max_seconds`, scaled by a uniform factor in [0.5, 1.0] ("equal jitter") so that many clients
    do not retry in lockstep; a Retry-After header (seconds or HTTP date) is a lower bound."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        raw = min(self.max_seconds, self.base_seconds * 2.0**attempt)
        wait = raw * self.rng.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Retrier:
    """Call functions with retries on transient errors; log failure streaks, not attempts.

    A streak starts with the first failed attempt after a success and logs one WARNING; it ends
    with the next success, which logs one INFO line with what the streak cost. A Retry-After
    longer than the backoff cap is honoured without blocking: calls raise RetryLater until then.
    """

    def __init__(
        self,
        name: str,
        transient: tuple[type[BaseException], ...],
        max_retries: int,
        backoff: Backoff,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
        headers: Callable[[], Mapping[str, str] | None] = lambda: None,
    ) -> None:
        self.name = name
        self.transient = transient
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.now = now
        self.headers = headers
        self.stats = RetryStats()
        self._streak: _Streak | None = None
        self.blocked_until: datetime | None = None

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Return fn(); retry transient errors up to `max_retries` times, then re-raise."""
        if self.blocked_until is not None and self.now() < self.blocked_until:
            raise RetryLater(f"{self.name} asked to wait until {self.blocked_until.isoformat()}")
        attempt = 0
        while True:
            try:
                result = fn()
            except self.transient as exc:
                self.failed(what, exc)
                retry_after = self.retry_after()
                if retry_after is not None and retry_after > self.backoff.max_seconds:
                    self.blocked_until = self.now() + timedelta(seconds=retry_after)
                    raise
                if attempt >= self.max_retries:
                    raise
                self.stats.retries += 1
                self.sleep(self.backoff.delay(attempt, retry_after))
                attempt += 1
            else:
                self.succeeded()
                return result

    def failed(self, what: str, exc: BaseException, log: bool = True) -> None:
        """Count one failed attempt; log it only when it starts a streak (and `log`)."""
        self.stats.requests_failed += 1
        if self._streak is None:
            self._streak = _Streak(self.now())
            self.stats.streaks += 1
        if self._streak.failures == 0 and log:
            logger.warning(
                "{}: {} failed ({}: {}); retrying with backoff, polls are skipped while it "
                "lasts (logged once per streak)",
                self.name,
                what,
                type(exc).__name__,
                _short(exc),
            )
        self._streak.failures += 1

    def poll_skipped(self) -> None:
        """Count a poll given up after retries (part of the current streak)."""
        self.stats.polls_skipped += 1
        if self._streak is not None:
            self._streak.polls_skipped += 1

    def succeeded(self) -> None:
        """End the current streak, if any, with one INFO line."""
        streak, self._streak = self._streak, None
        if streak is not None:
            seconds = (self.now() - streak.started).total_seconds()
            logger.info(
                "{}: recovered after {} failed requests and {} skipped polls in {:.1f} s",
                self.name,
                streak.failures,
                streak.polls_skipped,
                seconds,
            )

    def retry_after(self) -> float | None:
        """The last response's Retry-After in seconds, if it had one."""
        try:
            return retry_after_seconds(self.headers(), self.now())
        except Exception:  # headers are best effort: a bad header must not break the retry
            return None


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
