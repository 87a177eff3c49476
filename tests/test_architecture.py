"""Boundaries: the pure domain imports no I/O library and never reads the wall clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[1] / "bot" / "domain"
BANNED_MODULES = {
    "ccxt",
    "sqlite_utils",
    "apscheduler",
    "loguru",
    "sqlite3",
    "requests",
    "socket",
    "http",
    "urllib",
    "pandas",
    "numpy",
    "time",
}
BANNED_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def violations(source: str) -> list[str]:
    """Every banned import or clock read in one module's source."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in BANNED_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Attribute) and node.attr in BANNED_CALLS:
            found.append(f"clock read .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in {"now", "utcnow"}:
            found.append(f"clock read {node.id}")
    return found


@pytest.mark.parametrize(
    "path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN))
)
def test_domain_module_is_pure(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import ccxt",
        "from sqlite_utils import Database",
        "import apscheduler.schedulers.blocking",
        "from loguru import logger",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "import time\nx = time.time()",
        "from datetime import date\nx = date.today()",
    ],
)
def test_guard_catches_each_kind_of_violation(source: str) -> None:
    assert violations(source) != []


def test_guard_accepts_plain_domain_code() -> None:
    assert violations("from dataclasses import dataclass\nfrom datetime import datetime\n") == []


# -- small pieces: files and functions ---------------------------------------------------------

BOT = DOMAIN.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60  # CLI wiring (bot/cli/) is exempt: a command lists its options
EVERY_MODULE = pytest.mark.parametrize(
    "path", sorted(BOT.rglob("*.py")), ids=lambda p: str(p.relative_to(BOT.parent))
)


def oversized(path: Path) -> list[str]:
    """The file itself when over the line budget, and each function over its budget."""
    source = path.read_text(encoding="utf-8")
    found = []
    if len(source.splitlines()) > MAX_FILE_LINES:
        found.append(f"{len(source.splitlines())} lines")
    if "cli" not in path.relative_to(BOT).parts:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{node.name}: {length} lines")
    return found


@EVERY_MODULE
def test_module_and_its_functions_are_small(path: Path) -> None:
    assert oversized(path) == []


def test_only_the_public_surface_lives_at_the_top_of_the_package() -> None:
    # and `native.py`: which modules `make compile` builds, checked when `bot` is imported
    top = sorted(p.name for p in BOT.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "native.py", "simulate.py", "strategy.py"]


# -- layers: which package may import which ----------------------------------------------------

# Each package of bot/ and the packages it may import (besides itself and the stdlib/third
# parties). Lower layers never import higher ones: the domain nothing; the engine and the
# portfolios the domain and the strategy API; adapters implement the engine's ports; reports
# read the ledger; runtime wires everything; the CLI sits on top. `bot.runtime.clock` is the
# one seam anyone may import (the only reader of the wall clock).
CORE = {"domain", "strategy"}
ALLOWED = {
    "domain": set(),
    "strategy": set(),
    "simulate": {"domain"},
    "portfolios": CORE,
    "engine": CORE | {"portfolios"},
    "config": CORE | {"engine"},
    "adapters": CORE | {"engine", "config", "adapters"},
    "reports": CORE | {"engine", "config", "adapters"},
    "runtime": CORE | {"engine", "portfolios", "config", "adapters", "reports", "__init__"},
    "web": CORE | {"engine", "config", "adapters", "reports"},
    "calibration": CORE | {"engine", "config", "adapters", "simulate"},
    "study": CORE
    | {"engine", "portfolios", "config", "adapters", "runtime", "reports", "__init__"},
    "cli": CORE
    | {"engine", "config", "adapters", "reports", "runtime", "web", "__init__"}
    | {"calibration", "study"},
    "native": set(),
    "__init__": {"simulate", "native"},
    "__main__": {"cli"},
}
CLOCK_SEAM = "bot.runtime.clock"


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_violations(path: Path) -> list[str]:
    """Imports of `path` (a module under bot/) that its layer may not make."""
    relative = path.relative_to(BOT.parent).with_suffix("")
    layer = _layer(".".join(relative.parts).removesuffix(".__init__"))
    allowed = ALLOWED[layer] | {layer}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name == "bot":
                name = "bot.__init__"  # `from bot import __version__`
            if name.startswith("bot.") and name != CLOCK_SEAM and _layer(name) not in allowed:
                found.append(name)
    return found


@EVERY_MODULE
def test_module_imports_only_lower_layers(path: Path) -> None:
    assert layer_violations(path) == []


def test_every_package_has_a_layer() -> None:
    layers = {p.stem if p.parent == BOT else p.relative_to(BOT).parts[0] for p in BOT.rglob("*.py")}
    assert layers <= set(ALLOWED)


def test_make_fuzz_runs_every_hypothesis_test() -> None:
    makefile = (BOT.parent / "Makefile").read_text(encoding="utf-8")
    fuzz = next(line for line in makefile.splitlines() if "HYPOTHESIS_PROFILE=fuzz" in line)
    tests = BOT.parent / "tests"
    files = tests.rglob("test_*.py")
    with_given = [p for p in files if "\n@given(" in p.read_text(encoding="utf-8")]
    assert with_given
    for path in with_given:
        relative = path.relative_to(BOT.parent)
        assert str(relative) in fuzz or str(relative.parent) in fuzz.split(), relative
