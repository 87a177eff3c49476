"""Resume state survives a JSON round trip exactly; foreign classes are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.ledger import PositionRecord
from bot.domain.values import FeeKind, Quote, Side
from bot.runtime.state_codec import dumps, loads


def test_round_trip_of_nested_domain_values() -> None:
    at = datetime(2024, 1, 1, 8, tzinfo=UTC)
    value = {
        "quote": Quote("BTC/USDT:USDT", at, 42_000.123456789, next_funding_at=at),
        "side": Side.SHORT,
        "kinds": (FeeKind.FUNDING, FeeKind.TRADING),
        "applied": frozenset({at}),
        "position": PositionRecord(
            "p#1", "BTC/USDT:USDT", "long", at, 1.0, 2.0, None, None, 0.02, 3.0, None
        ),
        "inf": float("inf"),
    }
    text = dumps(value)
    assert loads(text) == value
    assert dumps(loads(text)) == text  # canonical


def test_refuses_classes_outside_the_package() -> None:
    with pytest.raises(ValueError, match="outside the bot package"):
        loads('{"__dc__": "os:system", "f": {}}')
