"""Find and build strategies: by short name, `module:Class`, strategy directories, entry points.

Resolution of a name without ':' is lazy: the module whose file is named like the strategy goes
first, then the other modules of the shipped `strategies` package, then those of every
`[strategies] paths` directory (freqtrade's rule: only classes defined in a module count, so an
imported base class is never picked), then the entry-point group `ltbot.strategies`. The search
stops at the first match, so a broken file (a syntax error, a failing import) only breaks the
experiments whose strategy is not found before it; their error names the file and the line.

`module:Class` imports `module` as Python would, and when it is not importable looks for it
under the config file's directory, the working directory and the strategy paths, in that
order, so no PYTHONPATH is needed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from loguru import logger
from pydantic import ValidationError

from bot.strategy import API_VERSION, Strategy

if TYPE_CHECKING:
    from bot.config.settings import ExperimentSettings, Settings

ENTRY_POINT_GROUP = "ltbot.strategies"
StrategyClass = type[Strategy[Any]]

# The directory of the config file being loaded (`load_settings` sets it): relative strategy
# paths and `module:Class` modules are looked for there before the working directory.
_CONFIG_DIR: ContextVar[Path | None] = ContextVar("ltbot_config_dir", default=None)


class StrategyLoadError(ValueError):
    """A strategy cannot be found, imported or configured (a user error: exit code 2)."""


@contextmanager
def config_dir(directory: Path | None) -> Iterator[None]:
    """Look for relative strategy paths and `module:Class` modules in `directory` first."""
    token = _CONFIG_DIR.set(directory)
    try:
        yield
    finally:
        _CONFIG_DIR.reset(token)


def search_roots() -> tuple[Path, ...]:
    """Where relative strategy paths and `module:Class` modules are looked for, in order."""
    first = _CONFIG_DIR.get()
    cwd = Path.cwd()
    return (first, cwd) if first is not None and first.resolve() != cwd.resolve() else (cwd,)


@dataclass(frozen=True)
class _Candidate:
    """A module that may define strategies: a shipped one or a file of a strategy path."""

    stem: str
    file: Path
    shipped: bool

    def load(self) -> ModuleType:
        if self.shipped:
            return _import(f"strategies.{self.stem}")
        return _load_file(self.stem, self.file)


def discover(paths: Sequence[Path] = ()) -> dict[str, StrategyClass]:
    """Every strategy class available by short name, sorted by name.

    A module that cannot be loaded, or a class that is not a usable strategy, is skipped with a
    warning naming the file and line, so one broken file never hides the others."""
    found: dict[str, StrategyClass] = {}
    for candidate in _candidates(paths):
        try:
            module = candidate.load()
        except StrategyLoadError as exc:
            logger.warning("strategy file skipped: {}", exc)
            continue
        for cls in _defined_strategies(module):
            try:
                found.setdefault(cls.name, _check_class(cls, _label(cls)))
            except StrategyLoadError as exc:
                logger.warning("strategy skipped: {}", exc)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = _check_class(ep.load(), ep.value)
        except Exception as exc:  # a broken third-party plug-in must not hide the others
            logger.warning("strategy entry point {} cannot be loaded: {}", ep.value, exc)
            continue
        found.setdefault(ep.name, cls)
    return dict(sorted(found.items()))


def resolve(name: str, paths: Sequence[Path] = ()) -> StrategyClass:
    """The class for a short name or a `module:Class` path (see the module docstring)."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        module = _import_anywhere(module_name, paths)
        if not hasattr(module, attr):
            raise StrategyLoadError(f"strategy {name!r}: module has no attribute {attr!r}")
        return _check_class(getattr(module, attr), name)
    names: list[str] = []
    failures: list[str] = []
    # The file named like the strategy first: if it is the broken one, its error is the answer.
    for candidate in sorted(_candidates(paths), key=lambda c: c.stem != name):
        try:
            module = candidate.load()
        except StrategyLoadError as exc:
            if candidate.stem == name:
                raise
            failures.append(str(exc))
            continue
        for cls in _defined_strategies(module):
            if cls.name == name:
                return _check_class(cls, _label(cls))
            names.append(cls.name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return _check_class(ep.load(), ep.value)
            except StrategyLoadError:
                raise
            except Exception as exc:
                raise StrategyLoadError(f"strategy entry point {ep.value!r}: {exc}") from None
        names.append(ep.name)
    known = ", ".join(sorted(set(names))) or "none"
    broken = f"; not loaded: {'; '.join(failures)}" if failures else ""
    raise StrategyLoadError(f"unknown strategy {name!r} (available: {known}){broken}")


def build(
    name: str,
    params: Mapping[str, Any],
    *,
    timeframe: str | None = None,
    paths: Sequence[Path] = (),
) -> Strategy[Any]:
    """Resolve and instantiate with validated parameters (unknown keys are errors).

    `timeframe` replaces the class's own (the experiment's `timeframe` key): the engine builds
    the strategy's bars, and the feed fetches its candles, from the instance's timeframe."""
    cls = resolve(name, paths)
    try:
        strategy = cls(cls.Params(**params))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in error["loc"]) or "params"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown parameter"
        raise StrategyLoadError(f"strategy {name!r}: params.{key}: {message}") from None
    if timeframe is not None:
        strategy.timeframe = timeframe
    return strategy


def build_for(settings: Settings, experiment: ExperimentSettings) -> Strategy[Any]:
    """The strategy of one experiment, with its parameters and timeframe override."""
    return build(
        experiment.strategy,
        experiment.params,
        timeframe=experiment.timeframe,
        paths=settings.strategies.paths,
    )


def _candidates(paths: Sequence[Path]) -> list[_Candidate]:
    import strategies

    shipped_dir = Path(next(iter(strategies.__path__))).resolve()
    found = [
        _Candidate(info.name, shipped_dir / f"{info.name}.py", True)
        for info in pkgutil.iter_modules(strategies.__path__)
    ]
    for directory in paths:
        if directory.resolve() == shipped_dir:
            continue  # the shipped package itself: already listed, under its package name
        found.extend(
            _Candidate(file.stem, file, False)
            for file in sorted(directory.glob("*.py"))
            if not file.name.startswith("_")
        )
    return found


def _defined_strategies(module: ModuleType) -> list[type[Any]]:
    # Only classes defined in the module itself: an imported base or sibling class is not picked.
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and _is_strategy(obj)
    ]


def _label(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__name__}"


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a plug-in's sys.exit() at import time too
        raise StrategyLoadError(_import_failure(module_name, exc)) from None


def _import_anywhere(module_name: str, paths: Sequence[Path]) -> ModuleType:
    # Python's own import first; when the module itself is missing, add the first root that
    # holds it to sys.path (as PYTHONPATH would) and import again.
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, module_name):
            raise StrategyLoadError(_import_failure(module_name, exc)) from None
    except (Exception, SystemExit) as exc:
        raise StrategyLoadError(_import_failure(module_name, exc)) from None
    roots = (*search_roots(), *paths)
    for root in roots:
        file = _module_file(root, module_name)
        if file is None:
            continue
        if str(root) not in sys.path:
            sys.path.append(str(root))
        importlib.invalidate_caches()
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not _is_missing(exc, module_name):
                raise StrategyLoadError(_import_failure(module_name, exc)) from None
        except (Exception, SystemExit) as exc:
            raise StrategyLoadError(_import_failure(module_name, exc)) from None
        # e.g. `strategies.mine` beside the config: the name's package is ltbot's own.
        return _load_file(module_name, file)
    searched = ", ".join(str(r) for r in roots)
    raise StrategyLoadError(
        f"cannot import strategy module {module_name!r}: not found (searched {searched})"
    )


def _module_file(root: Path, module_name: str) -> Path | None:
    base = root.joinpath(*module_name.split("."))
    for file in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if file.is_file():
            return file
    return None


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    # The module (or a package on its path) is missing, not something it imports itself.
    missing = exc.name or ""
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _load_file(module_name: str, file: Path) -> ModuleType:
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == file.resolve():
            return loaded
        raise StrategyLoadError(
            f"{_show(file)}: module name {module_name!r} is taken by "
            f"{getattr(loaded, '__file__', None) or 'a built-in module'}; rename the file"
        )
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"{_show(file)}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: pydantic resolves a Params model's annotations through it.
    sys.modules[module_name] = module
    if str(file.parent) not in sys.path:
        sys.path.append(str(file.parent))  # its own sibling imports, as for a script
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[module_name]
        raise StrategyLoadError(_failure(file, exc)) from None
    return module


def _import_failure(module_name: str, exc: BaseException) -> str:
    spec_file = _origin(module_name)
    if spec_file is not None:
        return _failure(spec_file, exc)
    return f"cannot import strategy module {module_name!r}: {type(exc).__name__}: {exc}"


def _origin(module_name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module_name)
    except (Exception, SystemExit):
        return None
    if spec is None or spec.origin is None or not spec.has_location:
        return None
    return Path(spec.origin)


def _failure(file: Path, exc: BaseException) -> str:
    """`<file>, line <n>: <Error>: <message>`, the line being where the module failed."""
    line: int | None = None
    message = str(exc)
    if isinstance(exc, SyntaxError) and exc.filename is not None:
        file, line, message = Path(exc.filename), exc.lineno, exc.msg
    else:
        target = file.resolve()
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename).resolve() == target:
                line = frame.lineno
    where = f"{_show(file)}, line {line}" if line is not None else _show(file)
    return f"{where}: {type(exc).__name__}: {message}"


def _show(path: Path) -> str:
    # Relative to the working directory when inside it, as a user would type it.
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
