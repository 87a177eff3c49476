"""Strategy faults: a plug-in that raises, returns garbage or takes too long is isolated and
reported, and every other portfolio goes on exactly as if the faulty one were not there.

The engine is built by the composition root from settings that name strategies of this module
by `module:Class`, then driven over one day of the bundled real BTC sample.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from bot.adapters.replay.feed import ReplayFeed
from bot.config.settings import Settings
from bot.engine.engine import Engine
from bot.engine.strategy_guard import (
    MAX_SLOW_STREAK,
    SLOW_CALL_SECONDS,
    SlowCallPolicy,
    StrategyHealth,
    safe_signal,
    signal_problem,
)
from bot.runtime.clock import monotonic
from bot.runtime.daemon import strategy_summary
from bot.runtime.replay_driver import run_replay
from bot.runtime.wiring import build_engine
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams
from scripts.dump_ledger import dump
from strategies.sma_cross import SmaCross

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample"
BTC = "BTC/USDT:USDT"
VEHICLES = ["token:ftx", "perp:risk_pct=0.02", "perp_static:leverage=3", "spot"]
HERE = __name__


class Raising(Strategy[StrategyParams]):
    """Fails on every bar."""

    name = "raising"
    timeframe = "1h"

    def on_bar(self, history: HistoryView) -> Signal | None:
        raise ZeroDivisionError("plug-in bug")


class Exiting(Strategy[StrategyParams]):
    """Calls sys.exit() from inside the daemon."""

    name = "exiting"
    timeframe = "1h"

    def on_bar(self, history: HistoryView) -> Signal | None:
        sys.exit(3)


class Garbage(Strategy[StrategyParams]):
    """Returns something different and wrong on each bar."""

    name = "garbage"
    timeframe = "1h"
    values: tuple[Any, ...] = (
        "long",
        42,
        Signal("up"),  # type: ignore[arg-type]
        Signal(Direction.LONG, stop=math.nan),
        Signal(Direction.LONG, stop=-5.0),
        Signal(Direction.SHORT, stop=math.inf),
        Signal(Direction.LONG, stop="cheap"),  # type: ignore[arg-type]
        Signal(Direction.LONG, take_profit=True),  # type: ignore[arg-type]
    )

    def on_bar(self, history: HistoryView) -> Signal | None:
        return self.values[len(history) % len(self.values)]  # type: ignore[no-any-return]


class Slow(Strategy[StrategyParams]):
    """Takes longer than its budget on every bar (the test gives it 50 ms)."""

    name = "slow"
    timeframe = "1h"
    calls = 0

    def on_bar(self, history: HistoryView) -> Signal | None:
        type(self).calls += 1
        time.sleep(0.15)
        return Signal(Direction.LONG, stop=history.close[-1] * 0.97)


def settings_for(strategies: dict[str, tuple[str, dict[str, Any]]], db: Path) -> Settings:
    experiments = [
        {
            "name": name,
            "symbol": BTC,
            "strategy": strategy,
            "params": params,
            "capital": 10_000,
            "vehicles": VEHICLES,
        }
        for name, (strategy, params) in strategies.items()
    ]
    return Settings(exchange={"symbols": [BTC]}, store={"path": db}, experiments=experiments)  # type: ignore[arg-type]


GOOD = {
    "sma": ("sma_cross", {"fast": 3, "slow": 8, "atr_period": 3}),
    "hold": ("hold", {"direction": "short"}),
}
FAULTY = {
    "raising": (f"{HERE}:Raising", {}),
    "exiting": (f"{HERE}:Exiting", {}),
    "garbage": (f"{HERE}:Garbage", {}),
    "slow": (f"{HERE}:Slow", {}),
}


def drive(engine: Engine) -> dict[str, list[str]]:
    """One day of the sample through `engine`; every portfolio's records and NAV rows."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    feed = ReplayFeed.from_data_dir(
        SAMPLE, symbols=[BTC], start=start, end=datetime(2024, 3, 2, tzinfo=UTC)
    )
    out: dict[str, list[str]] = {}
    try:
        for update in feed:
            for pid, (records, navs) in engine.step(update).portfolios.items():
                out.setdefault(pid, []).append(repr((records, navs)))
    finally:
        feed.close()
    return out


@pytest.fixture
def log_lines() -> Any:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{level} {message}")
    yield lines
    logger.remove(sink)


def test_faulty_strategies_are_isolated_and_the_others_trade_as_if_alone(
    tmp_path: Path, log_lines: list[str]
) -> None:
    # Arrange: the good experiments alone, and the same next to four faulty ones
    alone = build_engine(settings_for(GOOD, tmp_path / "a.db"), live=False)
    crowded = build_engine(settings_for({**FAULTY, **GOOD}, tmp_path / "b.db"), live=False)
    slow = next(slot for slot in crowded.experiments if slot.name == "slow")
    slow.health = StrategyHealth(SlowCallPolicy(monotonic, budget_seconds=0.05, max_slow_streak=3))
    Slow.calls = 0

    # Act
    expected = drive(alone)
    got = drive(crowded)

    # Assert: the good portfolios are identical; the faulty ones never traded
    assert expected and all(pid.split("/")[0] in GOOD for pid in expected)
    assert {pid: rows for pid, rows in got.items() if pid.split("/")[0] in GOOD} == expected
    for pid, rows in got.items():
        # the slow one acted on its first (late but valid) signals before it was disabled
        if pid.split("/")[0] in FAULTY and not pid.startswith("slow/"):
            assert all("FillRecord" not in row for row in rows), pid
    health = {slot.name: slot.health for slot in crowded.experiments}
    assert health["raising"].errors == health["exiting"].errors > 20  # one per hourly bar
    assert health["garbage"].bad_signals > 20 and health["garbage"].errors == 0
    assert health["slow"].disabled and Slow.calls == 3  # disabled after 3 slow calls in a row
    assert not any(h.errors or h.bad_signals or h.disabled for n, h in health.items() if n in GOOD)
    # reported: each failure names the strategy and the experiment; the disabling is one ERROR
    assert any("strategy raising failed on raising" in line for line in log_lines)
    assert any("strategy garbage returned" in line for line in log_lines)
    disabled = [line for line in log_lines if "disabled" in line]
    assert len(disabled) == 1 and disabled[0].startswith("ERROR strategy slow on slow disabled")
    # and summed up in the run summary line
    summary = strategy_summary(crowded)
    assert (
        "raising " in summary and "garbage " in summary and "slow 3 slow calls, disabled" in summary
    )
    assert "sma" not in summary and strategy_summary(alone) == "strategies: no faults"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, None),
        (Signal(Direction.LONG, stop=99.0, take_profit=120.0), None),
        (Signal.flat(), None),
        ("long", "not a Signal"),
        (Signal("up"), "direction"),  # type: ignore[arg-type]
        (Signal(Direction.LONG, stop=math.nan), "stop nan is not a positive finite price"),
        (Signal(Direction.LONG, stop=0.0), "stop 0.0"),
        (Signal(Direction.SHORT, take_profit=-1.0), "take_profit -1.0"),
        (Signal(Direction.LONG, stop="1"), "stop '1' is not a number"),  # type: ignore[arg-type]
    ],
)
def test_signal_problem_names_what_is_wrong(value: object, problem: str | None) -> None:
    found = signal_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


class FakeTimer:
    """Monotonic seconds that move only when a test strategy says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_streak_is_reset_by_a_fast_call(log_lines: list[str]) -> None:
    timer = FakeTimer()

    class Sometimes(Strategy[StrategyParams]):
        name = "sometimes"
        timeframe = "1h"

        def __init__(self, params: StrategyParams) -> None:
            super().__init__(params)
            self.n = 0

        def on_bar(self, history: HistoryView) -> Signal | None:
            self.n += 1
            timer.now += 0.06 if self.n % 3 else 0.01  # slow, slow, fast, slow, slow, fast, ...
            return None

    strategy = Sometimes(StrategyParams())
    health = StrategyHealth(SlowCallPolicy(timer, budget_seconds=0.05, max_slow_streak=3))
    history = _empty_history()
    for _ in range(9):
        safe_signal(strategy, history, health, "x")
    assert not health.disabled and health.slow_calls == 6 and strategy.n == 9
    assert sum("took" in line for line in log_lines) == 6


def test_an_untimed_health_never_counts_a_slow_call() -> None:
    timer = FakeTimer()

    class Sluggish(Strategy[StrategyParams]):
        name = "sluggish"
        timeframe = "1h"

        def on_bar(self, history: HistoryView) -> Signal | None:
            timer.now += 10.0
            return None

    health = StrategyHealth()  # what a replay's engine gets: no SlowCallPolicy
    for _ in range(MAX_SLOW_STREAK + 1):
        safe_signal(Sluggish(StrategyParams()), _empty_history(), health, "x")
    assert (health.slow_calls, health.slow_streak, health.disabled) == (0, 0, False)


SLEEPY_BARS = range(20, 20 + MAX_SLOW_STREAK)  # in a row: a live run would disable it


class Sleepy(SmaCross):
    """sma_cross that sleeps `pause` seconds on the bars numbered `SLEEPY_BARS`."""

    name = "sleepy"
    pause = 0.0
    sleeps = 0

    def on_bar(self, history: HistoryView) -> Signal | None:
        if self.pause and len(history) in SLEEPY_BARS:
            time.sleep(self.pause)
            type(self).sleeps += 1
        return super().on_bar(history)


def test_a_replay_ledger_does_not_depend_on_how_long_the_strategy_takes(tmp_path: Path) -> None:
    # Arrange: the same config twice, into the same database (its path is in the ledger)
    settings = settings_for(
        {"sleepy": (f"{HERE}:Sleepy", {"fast": 3, "slow": 8, "atr_period": 3})}, tmp_path / "r.db"
    )

    def replay(pause: float) -> list[str]:
        Sleepy.pause, Sleepy.sleeps = pause, 0
        feed = ReplayFeed.from_data_dir(
            SAMPLE,
            symbols=[BTC],
            start=datetime(2024, 3, 1, tzinfo=UTC),
            end=datetime(2024, 3, 3, tzinfo=UTC),
        )
        try:
            run_replay(settings, feed)
        finally:
            feed.close()
        return list(dump(tmp_path / "r.db"))

    # Act: slower than the live budget on MAX_SLOW_STREAK bars in a row, then fast
    slow = replay(SLOW_CALL_SECONDS + 0.05)
    sleeps = Sleepy.sleeps
    fast = replay(0.0)

    # Assert: the slow calls happened, and the ledgers are identical table by table
    assert sleeps == MAX_SLOW_STREAK
    assert slow == fast
    fills = fast[fast.index(next(x for x in fast if x.startswith("## fills "))) + 1 :]
    fills = fills[: next(i for i, x in enumerate(fills) if x.startswith("## "))]
    assert len(fills) > 2  # the strategy traded (and kept trading after its slow bars)


def _empty_history() -> HistoryView:
    from bot.strategy import History

    return History(BTC, "1h").view()
