"""Shared fixtures: real SQLite files in tmp_path, the repository root, ../shared/data; the
hypothesis profile of every property test (`ci` derandomized, `fuzz` with HYPOTHESIS_PROFILE)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from bot.adapters.sqlite.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real ledger file with migrations applied."""
    with Store(tmp_path / "ledger.db") as opened:
        yield opened


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the clone; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present (needs ../shared/data beside the clone)")
    return SHARED_DATA


# Fixture scopes whose value a worker builds once for all the tests of a module it runs.
_SHARED_SCOPES = frozenset({"module", "class", "package"})


def _heavy(item: pytest.Item) -> bool:
    """A `slow` test, or one sharing a module-scoped fixture (a replay, a table of CLI runs)."""
    info = getattr(item, "_fixtureinfo", None)
    chains = info.name2fixturedefs.values() if info is not None else ()
    shared = any(d.scope in _SHARED_SCOPES for chain in chains for d in chain)
    return shared or item.get_closest_marker("slow") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (`make test`: `--dist loadfile`), hand out the files with heavy tests first,
    so the last files a worker takes are short ones and neither worker idles at the end.
    Every worker sorts its identical collection the same way; a plain run keeps file order."""
    if not hasattr(config, "workerinput"):
        return
    heavy = {item.path for item in items if _heavy(item)}
    items.sort(key=lambda item: item.path not in heavy)  # stable: file order within each half


@pytest.fixture(autouse=True)
def _environment() -> Iterator[None]:
    """Give each test the environment it started with: an in-process CLI call (CliRunner)
    exports --strategy-path as LTBOT_STRATEGIES__PATHS for its children, which would reach
    every later test of the same worker (which ones depends on xdist's scheduling)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
