"""`ltbot download`'s progress (issue 17.3) through the real app: a bar per series with the
percentage of the rows its time range holds, the count and the time left; `-q`/`-v` accepted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.sim.exchange import SimExchange
from bot.cli.main import app


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    # The sim's clock two minutes after the last candle of the range closed.
    with SimExchange(speed=0, start=datetime(2024, 3, 3, 0, 2, tzinfo=UTC)) as exchange:
        yield exchange


@pytest.mark.parametrize("flag", ["-q", "-v"])
def test_each_series_ends_at_100_percent_of_its_range(
    sim: SimExchange, tmp_path: Path, flag: str
) -> None:
    result = CliRunner().invoke(
        app,
        ["download", flag, "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2024-03-02",
         "--until", "2024-03-03", "--api-url", sim.url, "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # One day of 1h candles: 24 rows of last prices and 24 of mark prices; 3 funding rates.
    for label, rows in (("1h futures", 24), ("1h mark", 24), ("1h funding_rate", 3)):
        pattern = rf"BTC/USDT:USDT {label} .*\b100% +{rows}/{rows}\b"
        assert re.search(pattern, result.stderr), (label, result.stderr)
