"""`ltbot run`, `ltbot demo` and `ltbot status`."""

from __future__ import annotations

import math
import os
import signal
import tempfile
import time
import traceback
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.adapters.ccxt.feed import connect_feed
from bot.adapters.sim.exchange import SimExchange
from bot.adapters.sqlite.store import STORAGE_ERRORS, StorageFault, Store, StoreError
from bot.cli.common import (
    ConfigOption,
    QuietOption,
    StrategyPathOption,
    VerboseOption,
    console,
    fail,
    load,
    print_table,
    setup_logging,
    with_database,
)
from bot.config.settings import ConfigError, Settings, load_settings
from bot.config.strategy_loader import StrategyLoadError
from bot.engine.ports import Clock
from bot.reports.comparison import comparison_rows, print_comparison
from bot.reports.coverage import coverage_lines
from bot.reports.holdings import holding_text
from bot.reports.job import run_report
from bot.reports.render_text import print_report
from bot.runtime.clock import SystemClock
from bot.runtime.daemon import DaemonOptions, StepFailed, run_daemon
from bot.runtime.lock import LockError
from bot.runtime.log_setup import log_file_for

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "data" / "config.example.toml"
USER_ERRORS = (LockError, StoreError, StrategyLoadError, ConfigError)


class ClockChoice(StrEnum):
    """Where `ltbot run` takes each step's time from."""

    SYSTEM = "system"
    EXCHANGE = "exchange"


def run_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    clock: Annotated[
        ClockChoice,
        typer.Option(help="Step times from our clock, or from the exchange's (sim exchanges)."),
    ] = ClockChoice.SYSTEM,
    new_portfolios: Annotated[
        bool,
        typer.Option(
            "--new-portfolios",
            help="When the config changed an experiment's capital, strategy, parameters or "
            "vehicles, run it as new portfolios (<name>~2, ...) and keep the old ones as they "
            "are (default: refuse to start).",
        ),
    ] = False,
    new_ledger: Annotated[
        bool,
        typer.Option(
            "--new-ledger",
            help="Go on from what the database holds even though it lost committed steps "
            "(deleted, replaced, its -wal file removed; default: refuse to start).",
        ),
    ] = False,
    strategy_path: StrategyPathOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the paper-trading daemon on live public data until SIGINT/SIGTERM."""
    settings = load(config, strategy_path)
    if not settings.experiments:
        raise fail("no [[experiments]] configured (copy config.example.toml to config.toml)")
    setup_logging(ctx, settings, quiet=quiet, verbose=verbose)
    # Until the scheduler takes over signals, SIGTERM stops start-up like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        options = DaemonOptions(
            exchange_clock=clock is ClockChoice.EXCHANGE,
            new_portfolios=new_portfolios,
            new_ledger=new_ledger,
        )
        line = _run_daemon(settings, SystemClock(), options)
    except KeyboardInterrupt:
        typer.echo("interrupted while starting up: no step was run", err=True)
        return
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # e.g. a configured symbol the exchange does not list
        raise fail(str(exc)) from None
    typer.echo(line)


def _run_daemon(settings: Settings, clock: Clock, options: DaemonOptions) -> str:
    """`run_daemon`; a failed step exits 1 with its one line (not a user error: the log has
    the traceback)."""
    try:
        return run_daemon(settings, clock, connect_feed, options, wall_clock=SystemClock())
    except (StepFailed, StorageFault) as exc:
        _log_traceback(settings, exc)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _log_traceback(settings: Settings, exc: BaseException) -> None:
    # The console gets one line; the traceback (with its cause) goes to the log file only,
    # which the stderr sink would not allow through loguru.
    cause = exc.__cause__ or exc
    text = "".join(traceback.format_exception(cause))
    stamp = SystemClock().now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        fd = os.open(
            log_file_for(settings.store.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(f"{stamp} | ERROR   | {exc}\n{text}")
    except OSError:
        pass  # the storage that failed may hold the log too: the console line is all there is


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# The demo's simulated time per poll. The sim exchange's clock is frozen and moves by this much
# only after a step is committed, so every run and machine sees the same step times (the old
# wall-clock-driven sim gave +36.04 % then +33.77 % for the same command): `--seconds` only
# paces the polls. One hour: each poll closes exactly one 1 h bar (the example strategies'
# timeframe), and the 5 m candles in between give the price path (DaemonOptions.extra_timeframes).
DEMO_STEP = timedelta(hours=1)


class SimClock:
    """The demo's clock: the sim exchange's simulated time, which only `advance` moves;
    sleeping (retry back-off) waits wall time, at most half a second."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim

    def now(self) -> datetime:
        return self.sim.now()

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, 0.5))

    def advance(self, at: datetime, stop_at: datetime) -> bool:
        """After the step at `at` is committed: move the sim one DEMO_STEP on; True when the
        demo is done (`at` reached `stop_at`)."""
        self.sim.set_time(at + DEMO_STEP)
        return at >= stop_at


def demo_command(
    ctx: typer.Context,
    days: Annotated[float, typer.Option(help="Simulated days to run (bundled sample: 45).")] = 30,
    seconds: Annotated[
        float,
        typer.Option(
            help="Wall-clock seconds the run should take (paces the polls; it may take longer "
            "on a slow machine; the results never depend on it)."
        ),
    ] = 60,
    poll: Annotated[
        float | None,
        typer.Option(help="Wall seconds between polls (default: --seconds over the polls)."),
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="Keep the ledger here (default: a temporary directory).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the demo report files.")] = Path(
        "reports/demo"
    ),
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Offline end to end: the sim exchange on loopback over the bundled real BTC/ETH sample,
    the daemon polling it through real ccxt, one simulated hour per poll, then the report.
    Deterministic: the same --days give the same numbers on every run and machine."""
    if days <= 0 or seconds <= 0 or (poll is not None and poll <= 0):
        raise fail("--days, --seconds and --poll must be > 0")
    polls = math.ceil(days * 86_400 / DEMO_STEP.total_seconds())
    poll = poll or max(seconds / polls, 0.01)
    with tempfile.TemporaryDirectory(prefix="ltbot-demo-") as tmp:
        path = db or Path(tmp) / "demo.db"
        if db is not None and db.exists():
            raise fail(f"{db}: exists; the demo writes a new ledger (choose another --db)")
        with SimExchange(None, speed=0) as sim:  # frozen: SimClock.advance moves it
            settings = _demo_settings(sim.url, path, poll, out)
            # The log file sits beside the ledger: kept with --db, else gone with the demo.
            # Like a replay, the demo fast-forwards: its trades go to that file (-v shows
            # them); the console keeps start-up, problems and the summary.
            setup_logging(ctx, settings, quiet=quiet, verbose=verbose, trades=False)
            stop_at = min(sim.now() + timedelta(days=days), sim.data_end)
            typer.echo(
                f"sim exchange at {sim.url}: {sim.now():%Y-%m-%d} to {stop_at:%Y-%m-%d}, "
                f"one poll per simulated hour; ledger {path}"
            )
            clock = SimClock(sim)
            options = DaemonOptions(
                mode="demo",
                extra_timeframes=("5m",),
                finished=lambda at: clock.advance(at, stop_at),
                report=False,
            )
            line = _run_daemon(settings, clock, options)
            first = sim.data_start
        typer.echo(line)
        with Store(path) as store:
            print_comparison(store, console())
            output = run_report(store, settings, first.date(), stop_at.date())
            print_report(output.report, console())
            typer.echo(f"report files: {output.markdown} and {output.html}")


def _demo_settings(url: str, db: Path, poll: float, out: Path) -> Settings:
    base = load_settings(DEMO_CONFIG)
    exchange = base.exchange.model_copy(
        update={
            "api_url": url,
            "poll_seconds": poll,
            "timeout_ms": 5_000,
            "max_retries": 2,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 0.5,
            # at demo speed one poll spans many simulated minutes: the stale bound scales with it
            "stale_after_seconds": 86_400.0,
            "max_jump_pct": 0.5,
        }
    )
    return base.model_copy(
        update={
            "exchange": exchange,
            "store": base.store.model_copy(update={"path": db}),
            "report": base.report.model_copy(update={"out_dir": out}),
        }
    )


def status_command(
    config: ConfigOption = None,
    db: Annotated[Path | None, typer.Option("--db", help="Ledger (default: store.path).")] = None,
    strategy_path: StrategyPathOption = None,
) -> None:
    """NAV, return, leverage and holding of every portfolio, as of its latest step."""
    settings = with_database(load(config, strategy_path), db)
    path = settings.store.path
    if not path.is_file():
        raise fail(f"{path}: no such database")
    try:
        store = Store.open_ledger(path)
    except (StoreError, StorageFault) as exc:
        raise fail(str(exc)) from None
    try:
        with store:
            table = _status_table(store, path)
            coverage = coverage_lines(store)  # what each run covers; a partial one says so
    except STORAGE_ERRORS as exc:  # e.g. a corrupt page found while reading
        raise fail(f"{path}: cannot read the ledger ({exc})") from None
    print_table(table)
    for line in coverage:
        console().print(line, markup=False, highlight=False)


def _status_table(store: Store, path: Path) -> Table:
    holdings = store.holdings()
    table = Table(title=f"ltbot status ({path})", title_justify="left")
    for column in ("portfolio", "as of (UTC)", "NAV", "return", "leverage", "holding"):
        table.add_column(column, justify="right" if column in _NUMBERS else "left")
    for experiment_rows in comparison_rows(store).values():
        for row in experiment_rows:
            held = holdings[row["id"]]
            at = held["at"]
            table.add_row(
                row["id"],
                "no step yet" if at is None else f"{at:%Y-%m-%d %H:%M}",
                f"{row['nav']:,.2f}",
                f"{row['return']:+.2%}",
                f"{held['leverage'] or 0:.2f}x",
                holding_text(held),
            )
    return table


_NUMBERS = ("NAV", "return", "leverage")
