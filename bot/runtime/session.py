"""A session ties the engine to the store: each step's output becomes one transaction.

The engine state (every portfolio's domain state plus the engine's own bookkeeping) is written
in the same transaction as the step's ledger rows, so after a crash the ledger and the resume
state always agree (crash-only design: start-up is recovery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from loguru import logger

from bot.domain.records import DeathRecord, NavRecord
from bot.engine.engine import Engine, StepOutput, Update
from bot.engine.ports import EngineState, Ledger, PortfolioStep, StepBatch
from bot.runtime.state_codec import dump_resume_state, load_resume_state
from bot.runtime.trade_log import log_trades


@dataclass(slots=True)
class SessionStats:
    """Counters for the run summary."""

    steps: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    records: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # entries refused, by reason
    deaths: list[tuple[str, DeathRecord]] = field(default_factory=list)  # (portfolio, death)


class Session:
    """Feed updates through the engine and write each step atomically."""

    def __init__(self, store: Ledger, engine: Engine, key: str, group: int = 1) -> None:
        """`group` > 1 commits that many steps per transaction (replay speed; the resume
        state is still written with every commit, so a crash loses whole groups only)."""
        self.store = store
        self.engine = engine
        self.key = key
        self.group = group
        self.stats = SessionStats()
        self._pending: list[StepBatch] = []
        self._rejecting: dict[str, int] = {}  # symbol -> quotes rejected in the current streak
        self._runners = {runner.id: runner for runner in engine.runners}

    def resume(self) -> bool:
        """Restore the engine from the last committed step; False when starting fresh."""
        saved = self.store.load_state(self.key)
        if saved is None:
            return False
        self.engine.restore(load_resume_state(saved.text))
        logger.info("resumed from the step at {}", saved.at.isoformat())
        return True

    def process(self, update: Update) -> StepOutput:
        """Run one engine step and commit it with the engine's new state (or, grouped, with
        the group it completes)."""
        output = self.engine.step(update)
        self._pending.append(self._batch(output, with_state=len(self._pending) + 1 >= self.group))
        if len(self._pending) >= self.group:
            self.flush()
        self._count(output)
        for portfolio_id, (records, _) in output.portfolios.items():
            log_trades(portfolio_id, records)  # fills to the log file; opens/closes on console
            for event in records.token_events:
                logger.debug(
                    "{} token {}: leverage {:.3f} -> {:.3f}, NAV/unit {:.6g}",
                    portfolio_id,
                    event.kind.value,
                    event.leverage_before,
                    event.leverage_after,
                    event.nav_per_unit,
                )
        self._log_rejections(output)
        return output

    def _log_rejections(self, output: StepOutput) -> None:
        # One WARNING when a symbol's quotes start being rejected, one INFO when one is
        # accepted again: a glitch lasting an hour is two lines, not one per poll.
        for symbol, reason in output.rejected:
            if symbol not in self._rejecting:
                logger.warning(
                    "{} quotes rejected from {} ({}); nothing downstream sees them "
                    "(logged once per streak)",
                    symbol,
                    output.at.isoformat(),
                    reason,
                )
            self._rejecting[symbol] = self._rejecting.get(symbol, 0) + 1
        for quote in output.quotes:
            count = self._rejecting.pop(quote.symbol, None)
            if count is not None:
                logger.info(
                    "{} quotes accepted again at {} after {} rejected",
                    quote.symbol,
                    output.at.isoformat(),
                    count,
                )

    def flush(self) -> None:
        """Commit the steps not yet written, with the engine's current state."""
        if not self._pending:
            return
        last = self._pending[-1]
        if last.state is None and self.engine.last_at is not None:
            state = EngineState(
                self.key, self.engine.last_at, dump_resume_state(self.engine.state())
            )
            self._pending[-1] = replace(last, state=state)
        self.store.write_steps(self._pending)
        self._pending = []

    def _batch(self, output: StepOutput, with_state: bool) -> StepBatch:
        steps = []
        for pid, (records, navs) in output.portfolios.items():
            death = self._death(pid, navs[-1]) if navs else None
            steps.append(
                PortfolioStep(
                    pid, records.fills, records.fees, records.token_events, records.positions,
                    navs, records.refusals, death,
                )
            )  # fmt: skip
        state = None
        if with_state:
            state = EngineState(self.key, output.at, dump_resume_state(self.engine.state()))
        return StepBatch(output.quotes, output.candles, output.funding, steps, state, output.at)

    def _death(self, portfolio_id: str, nav: NavRecord) -> DeathRecord | None:
        # Asked before the state is dumped, so a restart remembers the death.
        cause = self._runners[portfolio_id].died(nav)
        if cause is None:
            return None
        death = DeathRecord(nav.at, cause)
        self.stats.deaths.append((portfolio_id, death))
        logger.warning("{} died at {}: {}", portfolio_id, nav.at.isoformat(), cause)
        return death

    def _count(self, output: StepOutput) -> None:
        self.stats.steps += 1
        for records, _ in output.portfolios.values():
            for refusal in records.refusals:
                reason = refusal.reason.value
                self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        for _, reason in output.rejected:
            self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self.stats.records += sum(len(r.fills) + len(r.fees) for r, _ in output.portfolios.values())


def summary_line(stats: SessionStats, extra: Sequence[str] = ()) -> str:
    """One line for the end of a run."""
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected.items())) or "none"
    parts = [f"{stats.steps} steps", f"rejected: {rejected}", fate_line(stats), *extra]
    return "; ".join(parts)


def fate_line(stats: SessionStats) -> str:
    """Entries refused per reason and the portfolios that died, for the end of a run."""
    refused = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.refused.items())) or "none"
    died = ", ".join(f"{pid} {d.at:%Y-%m-%d %H:%M}" for pid, d in stats.deaths) or "none"
    return f"entries refused: {refused}; died: {died}"
