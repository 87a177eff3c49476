"""`check_time` and `check_price`: what the domain accepts as a time and a price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from math import inf, nan

import pytest

from bot.domain.price_path import check_price, check_time

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_utc_times_in_order_pass() -> None:
    check_time(T0)
    check_time(T0 + timedelta(hours=1), T0)
    check_time(datetime(2024, 1, 1, tzinfo=timezone(timedelta(0))))  # another zero-offset zone


@pytest.mark.parametrize(
    "at", [datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))]
)
def test_a_naive_or_non_utc_time_is_refused(at: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        check_time(at)


def test_time_going_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="time went backwards"):
        check_time(T0, T0 + timedelta(seconds=1))


@pytest.mark.parametrize("price", [0.0, -1.0, inf, nan])
def test_a_price_must_be_finite_and_positive(price: float) -> None:
    with pytest.raises(ValueError, match="finite number > 0"):
        check_price(price)
    check_price(1e-12)
