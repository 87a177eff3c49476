"""Cells: one symbol x one window x one strategy parameter set, run through every vehicle.

Cells are expanded from a study config in a fixed order (symbol, window, strategy, params), and
each has a stable text id, so a resumed or re-run study recognises the cells it has done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from bot.study.config import StudyConfig, StudyConfigError, window_ranges
from bot.study.market import Span


@dataclass(frozen=True, slots=True)
class Cell:
    """One replay of the study: `params` is the strategy's parameters as JSON (keys sorted)."""

    symbol: str
    start: datetime
    end: datetime
    strategy: str
    params: str

    @property
    def id(self) -> str:
        """Stable text id: symbol|start|end|strategy|params."""
        return "|".join(
            (
                self.symbol,
                f"{self.start:%Y-%m-%d}",
                f"{self.end:%Y-%m-%d}",
                self.strategy,
                self.params,
            )
        )

    def strategy_params(self) -> dict[str, Any]:
        """The strategy parameters as a dict."""
        loaded: dict[str, Any] = json.loads(self.params)
        return loaded


def expand_cells(config: StudyConfig, spans: dict[str, Span]) -> list[Cell]:
    """Every cell of the study from each symbol's data span (`SymbolData.span`);
    StudyConfigError when a symbol has no window inside its data."""
    strategies = [
        (grid.name, json.dumps(params, sort_keys=True))
        for grid in config.strategies
        for params in grid.expand()
    ]
    # One calendar for every symbol: rolling windows from the earliest data (or `from`), each
    # symbol keeping those inside its own data, so windows of different symbols coincide.
    calendar = window_ranges(
        config, min(f for f, _ in spans.values()), max(last for _, last in spans.values())
    )
    cells = []
    for symbol in config.study.symbols:
        first, last = spans[symbol]
        inside = [(lo, hi) for lo, hi in calendar if first <= lo and hi <= last]
        if config.windows.ranges and len(inside) < len(calendar):
            lo, hi = next(w for w in calendar if w not in inside)
            raise StudyConfigError(
                f"windows: {lo:%Y-%m-%d}..{hi:%Y-%m-%d} is outside the data of {symbol} "
                f"({first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M})"
            )
        if not inside:
            # The symbol's data within from/to, and the shared calendar's start and step.
            start, end = config.windows_bounds()
            first = first if start is None else max(first, start)
            last = last if end is None else min(last, end)
            where = (
                f"; windows start every {config.windows.step_days} days from "
                f"{calendar[0][0]:%Y-%m-%d}"
                if calendar
                else ""
            )
            raise StudyConfigError(
                f"windows: no {config.windows.length_days}-day window fits in the data of "
                f"{symbol} ({first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M}){where}"
            )
        windows = inside
        for lo, hi in windows:
            for name, params in strategies:
                cells.append(Cell(symbol, lo, hi, name, params))
    return cells


def batch_cells(cells: list[Cell], size: int) -> list[list[Cell]]:
    """Cells in tasks of `size` at most, in order, a task's cells all of one symbol (so a
    Dask worker holding that symbol's data can run the whole task)."""
    batches: list[list[Cell]] = []
    for _, group in groupby(cells, key=lambda cell: cell.symbol):
        run = list(group)
        batches += [run[i : i + size] for i in range(0, len(run), size)]
    return batches
