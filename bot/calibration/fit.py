"""Fit a preset's few free parameters to a real token: a coarse grid, then a pattern search.

The objective is the annualised daily tracking error (`metrics.tracking_error`: RMS of the daily
log-return differences) over the fit span. The simulation is a step function of the tolerance
and trigger (a rebalance happens or not), so the search is derivative-free: a coarse grid over
plausible values, then a compass search (Torczon 1997) from the best grid point that halves its
steps when no neighbour improves, within an evaluation budget. scipy is not needed for that and
is not a dependency. The confidence interval is a moving-block bootstrap of the fit days over
every parameter set evaluated: each draw resamples blocks of days, recomputes every candidate's
tracking error and keeps the best one (so it is conditional on the candidates evaluated).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.calibration.metrics import block_indices, daily_log_returns
from bot.domain.token_spec import TokenSpec

Params = dict[str, float | str | None]
# Returns the simulated daily values for `params`, or None when the preset refuses them.
Evaluate = Callable[[Params], pd.Series | None]

REFINE_BUDGET = 10  # compass-search evaluations after the grid
PARAM_DRAWS = 500  # bootstrap draws for the parameters' interval
PARAM_BLOCK_DAYS = 10  # days per bootstrap block (daily differences are weakly autocorrelated)
INTERVAL = 0.90


@dataclass(frozen=True, slots=True)
class Parameter:
    """One free parameter: its coarse grid, first refine step, smallest step and bounds."""

    name: str
    grid: tuple[float, ...]
    step: float
    min_step: float
    lo: float
    hi: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """One evaluated parameter set: its objective and daily log-return differences."""

    params: Params
    objective: float
    diffs: np.ndarray


@dataclass(frozen=True, slots=True)
class FitResult:
    """The best parameters, their bootstrap intervals and every candidate evaluated."""

    best: Params
    objective: float
    intervals: dict[str, tuple[float, float]]
    reset_share: float  # share of bootstrap draws choosing the fitted reset (1.0 without)
    candidates: list[Candidate]


def free_parameters(spec: TokenSpec) -> list[Parameter]:
    """Return the few parameters fitted for `spec`: its target and its intraday trigger.

    The target's grid is the preset's ± 3 steps of L/15 (0.15 for binance_blvt's 2.25); a
    tolerance (binance_blvt) is fitted on 0.1-0.75 leverage units; a `max_leverage` trigger
    (ftx) at 7/8 to 3/2 of its own. The compass search starts at half a grid step.
    """
    target = spec.target_leverage
    step = round(target / 15, 4)
    found = [
        Parameter(
            "target_leverage",
            tuple(round(target + k * step, 4) for k in range(-3, 4)),
            step=round(step / 2, 4),
            min_step=0.01,
            lo=max(spec.band_lo or 0.0, 0.05) + 0.01,
            hi=min(spec.band_hi or math.inf, 10.0) - 0.01,
        )
    ]
    if spec.tolerance is not None:
        found.append(Parameter("tolerance", (0.1, 0.2, 0.3, 0.5, 0.75), 0.05, 0.01, 0.02, 2.0))
    elif spec.max_leverage is not None:
        cap = spec.max_leverage
        grid = tuple(round(cap * f, 4) for f in (0.875, 1.0, 1.25, 1.5))
        found.append(Parameter("max_leverage", grid, round(cap / 16, 4), 0.02, target, 10.0))
    return found


def grid_size(space: Sequence[Parameter]) -> int:
    """Return the number of grid points of `space`."""
    return math.prod(len(p.grid) for p in space)


class _Search:
    def __init__(
        self,
        real: pd.Series,
        evaluate: Evaluate,
        on_eval: Callable[[], None],
        skip_days: Collection[pd.Timestamp],
    ) -> None:
        returns = daily_log_returns(real)  # indexed by the day's end: day D's return is at D + 1
        self.returns = returns.drop([d + pd.Timedelta(days=1) for d in skip_days], errors="ignore")
        self.evaluate, self.on_eval = evaluate, on_eval
        self.seen: dict[tuple[tuple[str, object], ...], Candidate | None] = {}

    def score(self, params: Params) -> float:
        key = tuple(sorted(params.items()))
        if key not in self.seen:
            self.seen[key] = self._candidate(params)
            self.on_eval()
        found = self.seen[key]
        return math.inf if found is None else found.objective

    def _candidate(self, params: Params) -> Candidate | None:
        sim = self.evaluate(params)
        if sim is None:
            return None
        simulated = daily_log_returns(sim).reindex(self.returns.index)
        diffs = (self.returns - simulated).to_numpy(dtype=float)
        if np.isnan(diffs).any() or len(diffs) == 0:
            raise ValueError("the simulation does not cover every day of the real series")
        rms = float(np.sqrt(np.mean(diffs**2)) * math.sqrt(365))
        return Candidate(dict(params), rms, diffs)

    def candidates(self) -> list[Candidate]:
        return [c for c in self.seen.values() if c is not None]


def fit(
    real: pd.Series,
    evaluate: Evaluate,
    space: Sequence[Parameter],
    resets: Sequence[str | None] = (),
    on_eval: Callable[[], None] = lambda: None,
    seed: int = 0,
    skip_days: Collection[pd.Timestamp] = (),
) -> FitResult:
    """Fit `space` (and a reset time among `resets`, if any) to `real` daily values.

    `skip_days`: UTC days (midnights) whose daily return the objective leaves out.

    `on_eval` is called after each simulation (a progress bar): at most `grid_size(space)` +
    REFINE_BUDGET (+ len(resets) + grid_size(space) with resets) times.
    """
    search = _Search(real, evaluate, on_eval, skip_days)
    names = [p.name for p in space]
    grid: list[Params] = [dict(zip(names, values, strict=True)) for values in _grid(space)]
    best: Params = min(grid, key=search.score)
    if resets:
        # The reset is scanned at the grid's best, then the grid is walked again with it: the
        # objective is too rough for the compass search alone to find the target it implies.
        reset = min(resets, key=lambda r: search.score({**best, "daily_time": r}))
        best = min(({**g, "daily_time": reset} for g in grid), key=search.score)
    best = _refine(search, space, best, REFINE_BUDGET)
    if not math.isfinite(search.score(best)):
        raise ValueError("the preset refused every parameter set of the grid")
    intervals, share = _bootstrap(search.candidates(), space, best, seed)
    return FitResult(best, search.score(best), intervals, share, search.candidates())


def _grid(space: Sequence[Parameter]) -> list[tuple[float, ...]]:
    rows: list[tuple[float, ...]] = [()]
    for parameter in space:
        rows = [(*row, value) for row in rows for value in parameter.grid]
    return rows


def _refine(search: _Search, space: Sequence[Parameter], start: Params, budget: int) -> Params:
    best, steps, spent = dict(start), {p.name: p.step for p in space}, 0
    while spent < budget and any(steps[p.name] >= p.min_step for p in space):
        moved = False
        for parameter in space:
            value = best[parameter.name]
            assert isinstance(value, float | int)
            for sign in (1.0, -1.0):
                trial = round(value + sign * steps[parameter.name], 4)
                if not parameter.lo <= trial <= parameter.hi:
                    continue
                candidate = {**best, parameter.name: trial}
                fresh = tuple(sorted(candidate.items())) not in search.seen
                spent += fresh
                if search.score(candidate) < search.score(best):
                    best, moved = candidate, True
                    break
                if spent >= budget:
                    return best
        if not moved:
            steps = {name: step / 2 for name, step in steps.items()}
    return best


def _bootstrap(
    candidates: list[Candidate], space: Sequence[Parameter], best: Params, seed: int
) -> tuple[dict[str, tuple[float, float]], float]:
    diffs = np.stack([c.diffs for c in candidates])
    rng = np.random.default_rng(seed)
    rows = block_indices(diffs.shape[1], rng, PARAM_DRAWS, PARAM_BLOCK_DAYS)
    scores = np.stack([np.mean(d[rows] ** 2, axis=1) for d in diffs])  # candidates x draws
    winners = [candidates[i].params for i in np.argmin(scores, axis=0)]
    tail = (1.0 - INTERVAL) / 2.0
    intervals = {}
    for parameter in space:
        values = np.array([float(w[parameter.name] or 0.0) for w in winners])
        lo, hi = np.quantile(values, [tail, 1.0 - tail])
        intervals[parameter.name] = (float(lo), float(hi))
    share = float(np.mean([w.get("daily_time") == best.get("daily_time") for w in winners]))
    return intervals, share
