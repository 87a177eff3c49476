"""Find and build strategies: by short name, `module:Class`, `strategies/` files, entry points.

Resolution order for a name without ':' : the shipped strategies and any module in the
`strategies` package (freqtrade's rule: only classes defined in that module count, so an
imported base class is never picked), then the entry-point group `ltbot.strategies`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from loguru import logger
from pydantic import ValidationError

from bot.strategy import API_VERSION, Strategy

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
