"""Shared fixtures: real SQLite files in tmp_path, the repository root, ../shared/data; the
hypothesis profile of every property test (`ci` derandomized, `fuzz` with HYPOTHESIS_PROFILE)."""

from __future__ import annotations

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
