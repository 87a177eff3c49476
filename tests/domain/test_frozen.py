"""`evolve` against `dataclasses.replace`, the plain path it stands in for."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, fields, replace
from datetime import UTC, datetime

import pytest

from bot.domain.frozen import evolve
from bot.domain.leveraged_token import PendingRequest, TokenState
from bot.domain.perp_account import PerpAccount
from bot.domain.records import PositionRecord

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 1, 2, tzinfo=UTC)


def _fund() -> TokenState:
    pending = (PendingRequest("redeem", 2.0, T0),)
    return TokenState(T0, 100.0, 1.5, 0.03, 90.0, T0, 4.0, T1, pending, 10.0, False)


def test_evolve_equals_replace() -> None:
    fund = _fund()
    changed = evolve(fund, at=T1, nav=1.25, units=0.0)
    assert changed == replace(fund, at=T1, nav=1.25, units=0.0)
    assert (changed.at, changed.nav, changed.units, changed.qty) == (T1, 1.25, 0.0, 0.03)
    assert fund.nav == 1.5  # the original is untouched


def test_evolve_without_changes_is_an_equal_copy() -> None:
    fund = _fund()
    copy = evolve(fund)
    assert copy == fund and copy is not fund


def test_moved_to_equals_replace() -> None:
    fund = _fund()
    assert fund.moved_to(T1, 110.0, 1.8) == replace(fund, at=T1, price=110.0, nav=1.8)


def test_evolve_runs_post_init() -> None:
    account = PerpAccount("BTC/USDT:USDT", 1000.0)
    with pytest.raises(ValueError, match="capital must be > 0"):
        evolve(account, capital=0.0)


def test_evolve_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field 'navv'"):
        evolve(_fund(), navv=1.0)


@dataclass(frozen=True)
class _One:
    x: int


@dataclass(frozen=True)
class _Hidden:
    x: int
    y: int = field(init=False, default=0)


@dataclass(frozen=True)
class _Keyword:
    x: int
    y: int = field(kw_only=True, default=0)


@dataclass(frozen=True)
class _WithInitVar:
    x: int
    scale: InitVar[int] = 1


def test_evolve_copies_a_single_field_class() -> None:
    assert evolve(_One(1), x=2) == _One(2)


@pytest.mark.parametrize("obj", [_Hidden(1), _Keyword(1), _WithInitVar(1)])
def test_evolve_refuses_fields_it_cannot_pass_in_order(obj: object) -> None:
    with pytest.raises(TypeError, match="cannot copy"):
        evolve(obj, x=2)


def test_evolve_refuses_a_non_dataclass() -> None:
    with pytest.raises(TypeError, match="needs a dataclass"):
        evolve(1.0)


def test_renamed_equals_replace() -> None:
    # A distinct value per field, so a field passed in the wrong place shows.
    values = [f"field {i}" for i in range(len(fields(PositionRecord)))]
    row = PositionRecord(*values)  # type: ignore[arg-type]
    assert row.renamed("p#1") == replace(row, id="p#1")
