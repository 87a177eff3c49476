"""The metrics sink: a `Ledger` that folds each step into per-portfolio metrics.

A study runs the very session and engine of `ltbot replay` (bot/runtime/session.py), but hands
each committed group of steps to this sink instead of the SQLite ledger. Market data and the
resume state are dropped: a study never resumes a cell half-way (a cell is redone whole).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.engine.ports import EngineState, StepBatch
from bot.study.fold import PortfolioFold


class MetricsSink:
    """Satisfies `bot.engine.ports.Ledger`: fold every portfolio step, keep no rows."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        capital: float,
        targets: Mapping[str, tuple[float, float] | None],
    ) -> None:
        """One fold per portfolio id of `targets` (a token's |L| long and short, else None)."""
        self.folds = {pid: PortfolioFold(start, end, capital, t) for pid, t in targets.items()}
        self.steps = 0

    def write_steps(self, batches: Sequence[StepBatch]) -> None:
        """Fold the steps (in order)."""
        folds = self.folds
        for batch in batches:
            self.steps += 1
            for step in batch.portfolios:
                fold = folds[step.portfolio_id]
                for fill in step.fills:
                    fold.fill(fill.reason.value)
                for fee in step.fees:
                    fold.fee(fee.at, fee.kind.value, fee.amount)
                for event in step.token_events:
                    fold.token_event(event.kind.value)
                for nav in step.nav:
                    fold.nav(nav)
                if step.death is not None:
                    fold.death(step.death.at)

    def load_state(self, key: str) -> EngineState | None:
        """Nothing to resume from: a cell always starts fresh."""
        del key
        return None

    def results(self) -> dict[str, dict[str, Any]]:
        """Metrics by portfolio id."""
        return {pid: fold.result() for pid, fold in self.folds.items()}
