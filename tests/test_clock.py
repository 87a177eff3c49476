"""Clocks: the system clock is UTC-aware; fake and replay clocks move only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.runtime.clock import FakeClock, ReplayClock, SystemClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_fake_clock_stands_still_until_advanced() -> None:
    clock = FakeClock(T0)
    assert clock.now() == T0
    assert clock.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    clock.sleep(30)
    assert clock.now() == T0 + timedelta(minutes=5, seconds=30)


def test_fake_clock_refuses_naive_times_and_negative_steps() -> None:
    with pytest.raises(ValueError, match="naive"):
        FakeClock(datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="backwards"):
        FakeClock(T0).advance(timedelta(seconds=-1))


def test_replay_clock_moves_forward_only() -> None:
    clock = ReplayClock()
    with pytest.raises(RuntimeError):
        clock.now()
    clock.set(T0)
    clock.set(T0 + timedelta(hours=1))
    assert clock.now() == T0 + timedelta(hours=1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(T0)
    clock.sleep(60)
    assert clock.now() == T0 + timedelta(hours=1, minutes=1)
