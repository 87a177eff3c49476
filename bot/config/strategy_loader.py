"""Find and build strategies: by short name, `module:Class`, `strategies/` files, entry points.

Resolution order for a name without ':' : the shipped strategies and any module in the
`strategies` package (freqtrade's rule: only classes defined in that module count, so an
imported base class is never picked), then the entry-point group `ltbot.strategies`.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from loguru import logger
from pydantic import ValidationError

from bot.strategy import API_VERSION, Direction, HistoryView, Signal, Strategy

ENTRY_POINT_GROUP = "ltbot.strategies"
StrategyClass = type[Strategy[Any]]


class StrategyLoadError(ValueError):
    """A strategy cannot be found, imported or configured (a user error: exit code 2)."""


def discover() -> dict[str, StrategyClass]:
    """Every strategy class available by short name, sorted by name."""
    found: dict[str, StrategyClass] = {}
    for cls in _package_strategies():
        found.setdefault(cls.name, cls)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = _check_class(ep.load(), ep.value)
        except Exception as exc:  # a broken third-party plug-in must not hide the others
            logger.warning("strategy entry point {} cannot be loaded: {}", ep.value, exc)
            continue
        found.setdefault(ep.name, cls)
    return dict(sorted(found.items()))


def resolve(name: str) -> StrategyClass:
    """The class for a short name or a `module:Class` path."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        module = _import(module_name)
        if not hasattr(module, attr):
            raise StrategyLoadError(f"strategy {name!r}: module has no attribute {attr!r}")
        return _check_class(getattr(module, attr), name)
    available = discover()
    if name not in available:
        known = ", ".join(available) or "none"
        raise StrategyLoadError(f"unknown strategy {name!r} (available: {known})")
    return available[name]


def build(name: str, params: Mapping[str, Any]) -> Strategy[Any]:
    """Resolve and instantiate with validated parameters (unknown keys are errors)."""
    cls = resolve(name)
    try:
        return cls(cls.Params(**params))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in error["loc"]) or "params"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown parameter"
        raise StrategyLoadError(f"strategy {name!r}: params.{key}: {message}") from None


def _package_strategies() -> list[StrategyClass]:
    import strategies

    classes: list[StrategyClass] = []
    for info in pkgutil.iter_modules(strategies.__path__):
        module = _import(f"strategies.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and _is_strategy(obj):
                classes.append(_check_class(obj, f"{module.__name__}:{obj.__name__}"))
    return classes


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise StrategyLoadError(f"cannot import strategy module {module_name!r}: {exc}") from None


def _is_strategy(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, Strategy) and not inspect.isabstract(obj)


def _check_class(obj: object, label: str) -> StrategyClass:
    if not _is_strategy(obj):
        raise StrategyLoadError(f"{label!r} is not a Strategy subclass")
    cls: StrategyClass = obj  # type: ignore[assignment]
    if cls.API_VERSION != API_VERSION:
        raise StrategyLoadError(
            f"strategy {label!r} targets API_VERSION {cls.API_VERSION}, ltbot has {API_VERSION}"
        )
    if not cls.name:
        raise StrategyLoadError(f"strategy {label!r} has no name")
    return cls


# A strategy call runs in the daemon's poll thread and cannot be preempted (no signals in a
# worker thread, and killing a thread is unsafe in Python). So the budget is enforced after
# the fact: a call longer than `budget_seconds` is counted and logged, and a strategy that is
# slow `max_slow_streak` times in a row is disabled (no more calls, no signals) for the rest of
# the process, with one ERROR line. Its portfolios keep their positions, stops and NAV.
SLOW_CALL_SECONDS = 1.0
MAX_SLOW_STREAK = 3


@dataclass(slots=True)
class StrategyHealth:
    """Per-strategy counters for the run summary, and the slow-call policy."""

    errors: int = 0
    bad_signals: int = 0
    slow_calls: int = 0
    slow_streak: int = 0
    disabled: bool = False
    budget_seconds: float = SLOW_CALL_SECONDS
    max_slow_streak: int = MAX_SLOW_STREAK


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
    started = time.perf_counter()
    try:
        signal = strategy.on_bar(history)
    except (Exception, SystemExit) as exc:  # a plug-in's sys.exit() must not stop the daemon
        elapsed = time.perf_counter() - started
        health.errors += 1
        logger.opt(exception=exc).error(
            "strategy {} failed on {} bar {}: {!r}", strategy.name, context, history.at, exc
        )
        _time_call(strategy, health, context, elapsed)
        return None
    _time_call(strategy, health, context, time.perf_counter() - started)
    problem = signal_problem(signal)
    if problem is not None:
        health.bad_signals += 1
        logger.error("strategy {} returned {!r} on {}: {}", strategy.name, signal, context, problem)
        return None
    return signal


def _time_call(
    strategy: Strategy[Any], health: StrategyHealth, context: str, elapsed: float
) -> None:
    if elapsed <= health.budget_seconds:
        health.slow_streak = 0
        return
    health.slow_calls += 1
    health.slow_streak += 1
    if health.slow_streak >= health.max_slow_streak:
        health.disabled = True
        logger.error(
            "strategy {} on {} disabled: {} calls in a row over its {:.2f}s budget (last {:.2f}s);"
            " its portfolios keep their positions and get no new signals",
            strategy.name,
            context,
            health.slow_streak,
            health.budget_seconds,
            elapsed,
        )
    else:
        logger.warning(
            "strategy {} took {:.2f}s on {} (budget {:.2f}s)",
            strategy.name,
            elapsed,
            context,
            health.budget_seconds,
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
    return None
