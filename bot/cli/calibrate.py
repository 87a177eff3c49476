"""`ltbot calibrate`: fit a token preset's free parameters to a real token's price history."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.calibration.inputs import InputError, read_market, read_token
from bot.calibration.metrics import Fidelity
from bot.calibration.pipeline import (
    Calibration,
    calibrate,
    prepare,
    snippet,
    total_runs,
)
from bot.cli.common import console, fail
from bot.domain.token_presets import token_spec
from bot.domain.values import Side


def calibrate_command(
    token: Annotated[
        Path,
        typer.Option(
            "--token",
            help="The real token's prices: the CSV layout of data/leveraged_tokens (Date = "
            "open time UTC, Close) or a freqtrade/ccxt OHLCV file (.feather or .csv).",
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Directory with the underlying perp's candles (-mark, else -futures) and "
            "-funding_rate files, freqtrade layout (e.g. ../shared/data/binance_usdm/1h).",
        ),
    ],
    symbol: Annotated[str, typer.Option("--symbol", help="The perp, ccxt symbol (ETH/USDT:USDT).")],
    preset: Annotated[str, typer.Option("--preset", help="Token preset (ltbot presets).")],
    side: Annotated[str, typer.Option("--side", help="long or short.")],
    start: Annotated[
        str | None, typer.Option("--start", help="First day used, YYYY-MM-DD (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last day used, YYYY-MM-DD (UTC), inclusive.")
    ] = None,
    timeframe: Annotated[
        str,
        typer.Option(
            "--timeframe",
            help="Candle length the fund is simulated on (the perp data resampled; 1h is "
            "finer and about 4x slower).",
        ),
    ] = "4h",
    reset: Annotated[
        bool, typer.Option("--reset", help="Also fit a daily reset time (every 4 hours).")
    ] = False,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip-day",
            help="Leave this UTC day's return out of the fit (not of the figures), YYYY-MM-DD; "
            "repeatable. For a day the token's market price left its NAV (ETHUP 2021-05-19).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Fit a preset to a real token: target leverage and its trigger (tolerance for
    binance_blvt, max_leverage for ftx), optionally a reset time, by minimising the daily
    tracking error on the first half of the series; print the fitted values with a 90 %
    bootstrap interval, the fidelity figures in and out of sample (second half) and a
    presets table (TOML) to paste into the config.

    Reverse splits in the token series are undone first: a rise of 5x or more
    between two closes is a split when the rise over the move the underlying
    implies rounds to a power of ten of at least 10 (that power is the ratio).
    """
    if side not in ("long", "short"):
        raise fail(f"--side: expected long or short, got {side!r}")
    direction = Side.LONG if side == "long" else Side.SHORT
    try:
        spec = token_spec(preset, direction)
    except ValueError as exc:
        raise fail(f"--preset: {exc}") from None
    first, last = _day(start, "--start"), _day(end, "--end")
    skip_days = [d for d in (_day(text, "--skip-day") for text in skip or []) if d is not None]
    if first is not None and last is not None and first >= last:
        raise fail("--start must be before --end")
    try:
        closes, _ = read_token(token)
        market = read_market(data, symbol, timeframe)
        prepared = prepare(closes, market, spec.leverage, first, last)
    except InputError as exc:
        raise fail(str(exc)) from None
    err = Console(stderr=True)
    bar = Progress(
        TextColumn("calibrate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("simulations"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task("fit", total=total_runs(preset, direction, reset))
    with bar:
        result = calibrate(
            prepared, market, preset, direction, reset, lambda: bar.advance(task), seed, skip_days
        )
    _print(result, token, market.kind, timeframe, skip_days)


def _day(text: str | None, option: str) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: expected YYYY-MM-DD, got {text!r}") from None
    return pd.Timestamp(day, tz="UTC")


def _print(
    cal: Calibration, token: Path, kind: str, timeframe: str, skip_days: list[pd.Timestamp]
) -> None:
    out, p = console(), cal.prepared
    splits = ", ".join(f"1:{s.ratio:g} at {s.at:%Y-%m-%d %H:%M}" for s in p.splits) or "none"
    if skip_days:
        skipped = ", ".join(f"{d:%Y-%m-%d}" for d in skip_days)
        out.print(f"left out of the fit: {skipped}", markup=False, highlight=False)
    out.print(
        f"{token.name}: {len(p.real)} daily closes {p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}; "
        f"reverse splits undone: {splits}; perp {kind} candles at {timeframe}; "
        f"{len(cal.result.candidates)} parameter sets simulated",
        markup=False,
        highlight=False,
    )
    out.print(_parameters(cal))
    out.print(_figures(cal))
    out.print(snippet(cal, token.name), markup=False, highlight=False, end="")


def _parameters(cal: Calibration) -> Table:
    p, result = cal.prepared, cal.result
    table = Table(
        title=f"{cal.preset} {cal.side.name.lower()}, fit {p.start:%Y-%m-%d} .. {p.middle:%Y-%m-%d}"
    )
    for column in ("parameter", "shipped", "fitted", "90 % bootstrap interval"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for name, value in result.best.items():
        if name == "daily_time":
            share = f"chosen in {result.reset_share:.0%} of draws"
            table.add_row(name, str(cal.shipped.get(name)), str(value), share)
            continue
        lo, hi = result.intervals[name]
        shipped = cal.shipped.get(name)
        table.add_row(name, _g(shipped), _g(value), f"{lo:.4g} .. {hi:.4g}")
    return table


def _figures(cal: Calibration) -> Table:
    p = cal.prepared
    table = Table(
        title=f"fidelity: in sample {p.start:%Y-%m-%d} .. {p.middle:%Y-%m-%d}, "
        f"out of sample {p.middle:%Y-%m-%d} .. {p.end:%Y-%m-%d}"
    )
    table.add_column("figure")
    heads = [(h, w) for h in ("in", "out") for w in ("shipped", "fitted")]
    for half, which in heads:
        table.add_column(f"{half}: {which}", justify="right")
    figures = [cal.figures.get(key) for key in heads]
    rows = {
        "daily returns compared": lambda f: f"{f.days}",
        "tracking error (annualised)": lambda f: f"{f.tracking_error:.3f}",
        "effective beta (simulated)": lambda f: f"{f.beta_sim:+.3f}",
        "effective beta (real)": lambda f: f"{f.beta_real:+.3f}",
        "median |30-day log error|": lambda f: f"{f.window_error:.4f}",
        "  90 % interval": lambda f: f"{f.window_error_lo:.4f} .. {f.window_error_hi:.4f}",
        "terminal NAV ratio (sim/real)": lambda f: f"{f.terminal_ratio:.3f}",
    }
    for label, show in rows.items():
        table.add_row(label, *(_cell(f, show) for f in figures))
    return table


def _cell(figures: Fidelity | None, show: object) -> str:
    if figures is None or not callable(show):
        return "refused"
    text = str(show(figures))
    return "n/a" if "nan" in text else text


def _g(value: object) -> str:
    if isinstance(value, float | int) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)
