"""The metrics sink: folds each engine step's output into per-portfolio metrics.

A study runs the very engine of `ltbot replay` (bot/engine/engine.py) and folds what each step
produced, as `bot.runtime.session.Session` would hand it to the SQLite ledger: the records and
NAV snapshots per portfolio, and a death when a portfolio's last NAV of the step says so
(`PortfolioRunner.died`, asked exactly where the session asks it). Market data and the resume
state are dropped: a study never resumes a cell half-way (a cell is redone whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.engine.engine import StepOutput
from bot.portfolios.protocol import NO_RECORDS, PortfolioRunner
from bot.study.fold import PortfolioFold


class MetricsSink:
    """Fold every portfolio step of one cell, keep no rows."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        capital: float,
        targets: Mapping[str, tuple[float, float] | None],
    ) -> None:
        """One fold per portfolio id of `targets` (a token's |L| long and short, else None)."""
        self.folds = {pid: PortfolioFold(start, end, capital, t) for pid, t in targets.items()}

    def fold(self, output: StepOutput, runners: Mapping[str, PortfolioRunner]) -> None:
        """Fold one step's output (steps in order); `runners` by portfolio id."""
        folds = self.folds
        for pid, (records, navs) in output.portfolios.items():
            fold = folds[pid]
            if records is not NO_RECORDS:
                for fill in records.fills:
                    fold.fill(fill.reason.value)
                for fee in records.fees:
                    fold.fee(fee.at, fee.kind.value, fee.amount)
                for event in records.token_events:
                    fold.token_event(event.kind.value)
            if navs:
                fold.navs(navs)
                # As Session._death: the step's last NAV decides, the first death counts.
                if runners[pid].died(navs[-1]) is not None:
                    fold.death(navs[-1].at)

    def results(self) -> dict[str, dict[str, Any]]:
        """Metrics by portfolio id."""
        return {pid: fold.result() for pid, fold in self.folds.items()}
