"""The engine's safe call of a strategy: failures isolated, and (live only) slow calls policed.

A strategy call runs in the daemon's poll thread and cannot be preempted (no signals in a
worker thread, and killing a thread is unsafe in Python). So a live run enforces its budget
after the fact: a call longer than `budget_seconds` is counted and logged, and a strategy that
is slow `max_slow_streak` times in a row is disabled (no more calls, no signals) for the rest of
the process, with one ERROR line. Its portfolios keep their positions, stops and NAV.

Replays take no timing at all (`StrategyHealth` without a `SlowCallPolicy`), so a replay's
ledger never depends on the speed of the machine it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from bot.strategy import Direction, HistoryView, Signal, Strategy

SLOW_CALL_SECONDS = 1.0
MAX_SLOW_STREAK = 3


@dataclass(frozen=True, slots=True)
class SlowCallPolicy:
    """Live runs only: time each call with `timer` (monotonic seconds, e.g.
    `bot.runtime.clock.monotonic`); disable the strategy after `max_slow_streak` calls in a
    row over `budget_seconds`."""

    timer: Callable[[], float]
    budget_seconds: float = SLOW_CALL_SECONDS
    max_slow_streak: int = MAX_SLOW_STREAK


@dataclass(slots=True)
class StrategyHealth:
    """Per-strategy counters for the run summary; `slow_policy` None: calls are not timed."""

    slow_policy: SlowCallPolicy | None = None
    errors: int = 0
    error_streak: int = 0  # failed calls in a row: only the first one's traceback is logged
    bad_signals: int = 0
    slow_calls: int = 0
    slow_streak: int = 0
    disabled: bool = False


def safe_signal(
    strategy: Strategy[Any],
    history: HistoryView,
    health: StrategyHealth,
    context: str,
) -> Signal | None:
    """Call `on_bar`, isolating failures: an exception, a non-Signal result or a Signal with
    unusable prices is logged with `context`, counted in `health`, and treated as no signal
    for this bar. A disabled strategy (too slow too often) is not called at all."""
    if health.disabled:
        return None
    policy = health.slow_policy
    started = 0.0 if policy is None else policy.timer()
    try:
        signal = strategy.on_bar(history)
    except (Exception, SystemExit) as exc:  # a plug-in's sys.exit() must not stop the daemon
        health.errors += 1
        health.error_streak += 1
        if health.error_streak == 1:  # one line and one traceback (log file only) per streak
            logger.opt(exception=exc).error(
                "strategy {} failed on {} bar {}: {!r} (traceback in the log file; "
                "failures counted until a call succeeds)",
                strategy.name, context, history.at, exc,
            )  # fmt: skip
        if policy is not None:
            _time_call(strategy, health, policy, context, policy.timer() - started)
        return None
    if policy is not None:
        _time_call(strategy, health, policy, context, policy.timer() - started)
    if health.error_streak:
        logger.warning(
            "strategy {} on {} works again at bar {} after {} failed calls in a row",
            strategy.name, context, history.at, health.error_streak,
        )  # fmt: skip
        health.error_streak = 0
    problem = signal_problem(signal)
    if problem is not None:
        health.bad_signals += 1
        logger.error("strategy {} returned {!r} on {}: {}", strategy.name, signal, context, problem)
        return None
    return signal


def _time_call(
    strategy: Strategy[Any],
    health: StrategyHealth,
    policy: SlowCallPolicy,
    context: str,
    elapsed: float,
) -> None:
    # Count a slow call; a fast one ends the streak. See the module docstring for why after
    # the fact.
    if elapsed <= policy.budget_seconds:
        health.slow_streak = 0
        return
    health.slow_calls += 1
    health.slow_streak += 1
    if health.slow_streak >= policy.max_slow_streak:
        health.disabled = True
        logger.error(
            "strategy {} on {} disabled: {} calls in a row over its {:.2f}s budget (last {:.2f}s);"
            " its portfolios keep their positions and get no new signals",
            strategy.name,
            context,
            health.slow_streak,
            policy.budget_seconds,
            elapsed,
        )
    else:
        logger.warning(
            "strategy {} took {:.2f}s on {} (budget {:.2f}s)",
            strategy.name,
            elapsed,
            context,
            policy.budget_seconds,
        )


def signal_problem(signal: object) -> str | None:
    """Why a strategy's return value is unusable, or None when it is None or a sound Signal."""
    if signal is None:
        return None
    if not isinstance(signal, Signal):
        return "not a Signal"
    if not isinstance(signal.direction, Direction):
        return f"direction {signal.direction!r} is not long, short or flat"
    for name in ("stop", "take_profit"):
        value = getattr(signal, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} {value!r} is not a number"
        if not math.isfinite(value) or value <= 0:
            return f"{name} {value!r} is not a positive finite price"
    pct = signal.stop_pct
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int | float)):
        return f"stop_pct {pct!r} is not a number"
    if pct is not None and not 0 < pct < 1:
        return f"stop_pct {pct!r} is not a fraction > 0 and < 1"
    if pct is not None and signal.stop is not None:
        return "both stop and stop_pct are set (give one)"
    return None
