"""Clocks: the system clock is UTC-aware; fake and replay clocks move only when told."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.runtime.clock import FakeClock, ReplayClock, Stopwatch, SystemClock, monotonic

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


def test_stopwatch_laps_on_its_timer() -> None:
    ticks = iter([10.0, 10.5, 12.0])
    watch = Stopwatch(lambda: next(ticks))
    assert watch.lap() == 0.5
    assert watch.lap() == 1.5


def test_monotonic_never_goes_back() -> None:
    first = monotonic()
    assert monotonic() >= first


BOT = Path(__file__).resolve().parents[1] / "bot"
CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
}


def clock_reads(source: str) -> list[str]:
    """`x.now`-style reads of the clocks in CLOCK_READS, and `from time import ...` of them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
            if (owner, node.attr) in CLOCK_READS:
                found.append(f"{owner}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            found += [a.name for a in node.names if (node.module, a.name) in CLOCK_READS]
    return found


@pytest.mark.parametrize(
    "path",
    # ruff's banned-api (TID251) exempts whole files: these may import ccxt, sqlite_utils or
    # apscheduler, and must still not read the clock.
    sorted([*BOT.glob("adapters/ccxt/*.py"), *BOT.glob("adapters/sqlite/*.py")])
    + [BOT / "runtime" / "scheduler.py"],
    ids=lambda p: str(p.relative_to(BOT)),
)
def test_files_exempt_from_the_import_bans_do_not_read_the_clock(path: Path) -> None:
    assert clock_reads(path.read_text(encoding="utf-8")) == []


def test_the_clock_read_check_catches_each_form() -> None:
    assert clock_reads("import time\nx = time.perf_counter()") == ["time.perf_counter"]
    assert clock_reads("from time import monotonic") == ["monotonic"]
    assert clock_reads("import datetime as dt\nx = dt.datetime.now()") == ["datetime.now"]
    assert clock_reads(Path(BOT / "runtime" / "clock.py").read_text(encoding="utf-8")) != []
