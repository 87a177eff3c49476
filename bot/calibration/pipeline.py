"""Calibrate a preset to a real token: fit on the first half, figures in and out of sample.

Daily values are taken at UTC midnight: the real token's close of the bar ending then, the
simulated unit's value after the candle ending then (`bot.simulate_token` over the perp's
candles, funding settled, the fund launched at the span's first midnight at its target), and
the perp's close for the underlying. The span is split at its middle day: the parameters are
fitted on the first half and judged, with the preset's shipped ones, on both halves; the
second half's fund is launched afresh at its first day.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot.calibration.fit import REFINE_BUDGET, FitResult, Params, fit, free_parameters, grid_size
from bot.calibration.inputs import InputError, Market
from bot.calibration.metrics import Fidelity, fidelity
from bot.calibration.splits import Split, detect_reverse_splits, undo_splits
from bot.domain.token_presets import token_spec
from bot.domain.values import Side
from bot.simulate import simulate_token

MIN_HALF_DAYS = 10  # daily returns each half needs at least
RESET_HOURS = range(0, 24, 4)  # reset times tried with --reset (a 4h bar's resolution)
REPORT_RUNS = 4  # simulations after the fit: shipped and fitted, in and out of sample


@dataclass(frozen=True, slots=True)
class Prepared:
    """A real token's daily values (split-adjusted) and its underlying's, over one span."""

    real: pd.Series
    underlying: pd.Series
    splits: list[Split]
    start: pd.Timestamp
    middle: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, slots=True)
class Calibration:
    """The fit and its fidelity figures; `figures[(half, which)]`, half "in"/"out"."""

    preset: str
    side: Side
    prepared: Prepared
    shipped: Params
    result: FitResult
    figures: dict[tuple[str, str], Fidelity] = field(default_factory=dict)


def midnight_values(values: pd.Series) -> pd.Series:
    """Return the values stamped exactly at a UTC midnight."""
    index = pd.DatetimeIndex(values.index)
    kept: pd.Series = values[index == index.normalize()]
    return kept


def underlying_closes(market: Market) -> pd.Series:
    """Return the perp's closes indexed by close time."""
    closes = market.candles["close"].copy()
    closes.index = closes.index + market.bar
    return closes


def prepare(
    closes: pd.Series,
    market: Market,
    leverage: float,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> Prepared:
    """Undo the reverse splits of `closes` (by close time), crop, and take midnight values.

    `leverage`: the preset's signed target, for the move the underlying implies at a jump.
    """
    under = underlying_closes(market)
    at_token = under.reindex(closes.index, method="ffill")
    implied = (at_token / at_token.shift()) ** leverage
    splits = detect_reverse_splits(closes, implied)
    real = midnight_values(undo_splits(closes, splits))
    first_bar = market.candles.index[0]
    last_close = under.index[-1]
    keep = (real.index >= max(first_bar, start or first_bar)) & (
        real.index <= min(last_close, end or last_close)
    )
    real = real[keep]
    if len(real) < 2 * MIN_HALF_DAYS + 1:
        raise InputError(
            f"{len(real)} daily closes where the token, the perp data and --start/--end "
            "overlap; need at least 21"
        )
    first, last = real.index[0], real.index[-1]
    middle = first + ((last - first) / 2).floor("1D")
    return Prepared(real, midnight_values(under), splits, first, middle, last)


def simulate_daily(
    market: Market, preset: str, side: Side, params: Params, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Series:
    """Return one unit's daily value launched at `start` (1.0) and carried to `end`."""
    candles = market.candles[(market.candles.index >= start) & (market.candles.index < end)]
    overrides = {k: v for k, v in params.items() if v is not None}
    out = simulate_token(candles, preset, side, funding=market.funding, **overrides)
    values = out["value"].copy()
    values.index = values.index + market.bar
    daily: pd.Series = pd.concat([pd.Series([1.0], index=[start]), midnight_values(values)])
    return daily


def shipped_params(preset: str, side: Side, with_reset: bool) -> Params:
    """Return the preset's own values of the parameters `free_parameters` fits."""
    spec = token_spec(preset, side)
    params: Params = {p.name: getattr(spec, p.name) for p in free_parameters(spec)}
    if with_reset:
        params["daily_time"] = spec.daily_time
    return params


def total_runs(preset: str, side: Side, with_reset: bool) -> int:
    """Return the most simulations `calibrate` runs (the progress bar's total)."""
    space = free_parameters(token_spec(preset, side))
    extra = len(reset_choices(preset, side)) + grid_size(space) if with_reset else 0
    return grid_size(space) + REFINE_BUDGET + extra + REPORT_RUNS


def reset_choices(preset: str, side: Side) -> list[str | None]:
    """Return the reset times tried: none (only if the preset has none) and every 4 hours."""
    own = token_spec(preset, side).daily_time
    times: list[str | None] = [f"{h:02d}:00:00" for h in RESET_HOURS]
    return [None, *times] if own is None else times


def calibrate(
    prepared: Prepared,
    market: Market,
    preset: str,
    side: Side,
    with_reset: bool = False,
    on_run: Callable[[], None] = lambda: None,
    seed: int = 0,
    skip_days: Collection[pd.Timestamp] = (),
) -> Calibration:
    """Fit on the first half of `prepared`, then compute the figures in and out of sample.

    `skip_days`: UTC days left out of the fit's objective (not of the figures), e.g. a day the
    real token's market price left its NAV (ETHUP on 2021-05-19, data/leveraged_tokens/README).
    """
    p = prepared
    halves = {"in": (p.start, p.middle), "out": (p.middle, p.end)}

    def run(params: Params, half: str) -> pd.Series | None:
        try:
            token_spec(preset, side, {k: v for k, v in params.items() if v is not None})
        except ValueError:
            return None  # the preset refuses this combination (e.g. a target on a trigger)
        return simulate_daily(market, preset, side, params, *halves[half])

    def run_fit(params: Params) -> pd.Series | None:
        return run(params, "in")

    resets = reset_choices(preset, side) if with_reset else []
    fit_real = p.real[p.real.index <= p.middle]
    space = free_parameters(token_spec(preset, side))
    result = fit(fit_real, run_fit, space, resets, on_run, seed, skip_days)
    shipped = shipped_params(preset, side, with_reset)
    figures: dict[tuple[str, str], Fidelity] = {}
    for half, (lo, hi) in halves.items():
        real = p.real[(p.real.index >= lo) & (p.real.index <= hi)]
        for which, params in (("shipped", shipped), ("fitted", result.best)):
            sim = run(params, half)
            on_run()
            if sim is not None:
                figures[(half, which)] = fidelity(real, sim, p.underlying, seed)
    return Calibration(preset, side, p, shipped, result, figures)


def snippet(cal: Calibration, source: str) -> str:
    """Return the `[presets.<name>]` TOML table of the fitted values (this side's keys)."""
    suffix = "long" if cal.side is Side.LONG else "short"
    p = cal.prepared
    inside, outside = cal.figures.get(("in", "fitted")), cal.figures.get(("out", "fitted"))
    lines = [
        f"# ltbot calibrate: {source} ({suffix}), fitted on {p.start:%Y-%m-%d} .. "
        f"{p.middle:%Y-%m-%d}",
        f"# annualised daily tracking error: {_num(inside)} in sample, "
        f"{_num(outside)} out of sample ({p.middle:%Y-%m-%d} .. {p.end:%Y-%m-%d})",
        f"[presets.{cal.preset}]",
    ]
    for name, value in cal.result.best.items():
        if value is None:
            continue  # no reset: the preset's default (TOML has no null)
        text = f'"{value[:5]}"' if isinstance(value, str) else f"{float(value):.4g}"
        lines.append(f"{name}_{suffix} = {text}")
    return "\n".join(lines) + "\n"


def _num(figures: Fidelity | None) -> str:
    if figures is None or not np.isfinite(figures.tracking_error):
        return "n/a"
    return f"{figures.tracking_error:.3f}"
