"""Fixtures of the report tests: the fixed ledger of report_ledger.py in a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_ledger import write_fixed_ledger

from bot.adapters.sqlite.store import Store


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Store]:
    """The fixed ledger in a real SQLite file."""
    with Store(tmp_path / "ledger.db") as store:
        write_fixed_ledger(store)
        yield store
