"""Resume state survives a JSON round trip exactly; foreign classes are refused."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime

import pytest

from bot.domain.records import PositionRecord
from bot.domain.token_state import PendingRequest, TokenState
from bot.domain.values import FeeKind, Quote, Side
from bot.runtime.state_codec import (
    MOVED,
    RESUME_SCHEMA,
    ResumeStateError,
    dump_resume_state,
    dumps,
    load_resume_state,
    loads,
)


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


# -- the resume-state envelope -----------------------------------------------------------------

AT = datetime(2024, 3, 1, 8, tzinfo=UTC)
ENGINE_STATE = {
    "last_at": AT,
    "last_quotes": {"BTC/USDT:USDT": Quote("BTC/USDT:USDT", AT, 61_000.5)},
    "runners": {"x/perp": {"side": Side.LONG}},
}


def test_resume_state_carries_its_schema_and_the_classes_it_needs() -> None:
    text = dump_resume_state(ENGINE_STATE)

    envelope = json.loads(text)
    assert envelope["schema"] == RESUME_SCHEMA == 2
    assert envelope["classes"] == ["bot.domain.values:Quote", "bot.domain.values:Side"]
    assert envelope["state"] == json.loads(dumps(ENGINE_STATE))
    assert load_resume_state(text) == ENGINE_STATE


def test_a_schema_1_state_without_envelope_still_loads() -> None:
    # What ltbot wrote up to dca4d71: the engine dict itself.
    assert load_resume_state(dumps(ENGINE_STATE)) == ENGINE_STATE


def test_a_newer_schema_is_refused_with_one_clear_line() -> None:
    with pytest.raises(ResumeStateError, match="schema 3; this ltbot reads 1..2"):
        load_resume_state('{"schema": 3, "classes": [], "state": {}}')


def test_a_schema_2_envelope_without_its_parts_is_refused_with_one_clear_line() -> None:
    with pytest.raises(ResumeStateError, match="without its classes or state"):
        load_resume_state('{"schema": 2, "classes": []}')


def test_a_class_that_is_gone_is_named_before_anything_is_restored() -> None:
    text = dump_resume_state(ENGINE_STATE).replace("bot.domain.values:Side", "bot.domain.gone:Side")
    with pytest.raises(ResumeStateError, match=r"needs bot\.domain\.gone:Side"):
        load_resume_state(text)


def test_a_moved_class_resolves_through_the_map(monkeypatch: pytest.MonkeyPatch) -> None:
    text = dump_resume_state(ENGINE_STATE).replace("bot.domain.values:Side", "bot.old_values:Side")
    monkeypatch.setitem(MOVED, "bot.old_values:Side", "bot.domain.values:Side")

    assert load_resume_state(text) == ENGINE_STATE


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_each_moved_class_is_where_the_map_says(old: str, new: str) -> None:
    module, _, name = new.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert f"{cls.__module__}:{cls.__qualname__}" == new
    assert old != new


def test_a_state_written_before_the_token_state_moved_still_loads() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    fund = TokenState(at, 100.0, 1.0, 0.02, 100.0, at, pending=(PendingRequest("redeem", 1.0, at),))
    text = dump_resume_state({"fund": fund})
    assert "bot.domain.token_state:TokenState" in text
    before = text.replace("bot.domain.token_state:", "bot.domain.leveraged_token:")
    assert load_resume_state(before) == {"fund": fund}
