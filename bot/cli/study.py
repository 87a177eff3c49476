"""`ltbot study run` / `ltbot study report`: many replays with a metrics sink, and the verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bot.adapters.sqlite.identity import StoreError
from bot.cli.common import CONTEXT, fail
from bot.runtime.clock import monotonic
from bot.study.config import StudyConfigError, load_study_config
from bot.study.report import FORMATS, write_report
from bot.study.results import load_results
from bot.study.runner import (
    StopFlag,
    check_study,
    default_workers,
    open_study_file,
    plan_study,
    run_tasks,
    store_results,
    study_workers,
)
from bot.study.worker import CellResult

study_app = typer.Typer(
    help="Many replays (symbols x windows x parameter grids) and the verdict report.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
StudyConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Study config (start from study.example.toml).")
]


@study_app.command("run")
def study_run(
    config: StudyConfigOption,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Worker processes (default: one per core).", min=1),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run on Dask: 'local' starts a LocalCluster of --workers processes; "
            "tcp://HOST:PORT joins a running scheduler (pip install 'ltbot\\[dask]').",
        ),
    ] = None,
    new: Annotated[
        bool,
        typer.Option("--new", help="Start over when the study file holds another config's study."),
    ] = False,
) -> None:
    """Run every cell not yet in the study file; Ctrl-C stops after the tasks in flight."""
    try:
        study = load_study_config(config)
    except StudyConfigError as exc:
        raise fail(str(exc)) from None
    count = workers or default_workers()
    client = _connect(cluster, count)
    try:
        with study_workers(study, count, client) as crew:
            cells = check_study(study, crew.spans())
            with open_study_file(study) as store:
                plan = plan_study(study, store, cells, new)
                total, todo = len(plan.cells), len(plan.todo)
                if not todo:
                    typer.echo(f"nothing to do: all {total} cells are in {study.study.db}")
                    return
                write = store_results(store)
                with StopFlag() as stop, StudyProgress(total, total - todo) as bar:

                    def on_done(results: list[CellResult]) -> None:
                        write(results)
                        bar.advance(results)

                    run_tasks(plan.tasks, crew.workers, stop, on_done, crew.held)
                done = len(store.done())
    except (StudyConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    finally:
        if client is not None:
            from bot.study.dask_backend import disconnect

            disconnect(client)
    tail = "; stopped by Ctrl-C: run again to resume" if stop.stopped else ""
    typer.echo(
        f"{done}/{total} cells done ({bar.steps:,} portfolio-bar steps in {bar.elapsed():.1f} s)"
        f"; study file: {study.study.db}{tail}"
    )
    if stop.stopped:
        # Not done: the shell's code for Ctrl-C (128 + SIGINT), so `study run && study report`
        # stops here too.
        raise typer.Exit(STOPPED)


STOPPED = 130


def _connect(cluster: str | None, workers: int) -> Any:
    if cluster is None:
        return None
    from bot.study.dask_backend import connect

    try:
        return connect(cluster, workers)
    except StudyConfigError as exc:
        raise fail(str(exc)) from None


@study_app.command("report")
def study_report(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Study config (its [study] db is the study file)."),
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Study file (instead of, or overriding, -c).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="md, html, json or csv (default: write .md and .html)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file for --format (default: stdout)."),
    ] = None,
) -> None:
    """The verdict: per token x perp pair the log-return gap, win rate and why; or the results."""
    if fmt is not None and fmt not in FORMATS:
        raise fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt is None and out is not None:
        raise fail("--out needs --format (without one, the .md and .html go beside the study file)")
    try:
        path = db or (load_study_config(config).study.db if config is not None else None)
        if path is None:
            raise StudyConfigError("give the study config (-c STUDY.toml) or the study file (--db)")
        if not path.is_file():
            raise StudyConfigError(f"{path}: no study file (run ltbot study run first)")
        frame = load_results(path)
    except (StudyConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    if frame.empty:
        raise fail(f"{path}: no completed cells yet")
    if fmt is None:
        for kind in ("md", "html"):
            target = path.with_name(f"{path.stem}-report.{kind}")
            write_report(frame, path, kind, target)
            typer.echo(f"wrote {target}")
        return
    if out is None:
        sys.stdout.write(write_report(frame, path, fmt, None))
    else:
        write_report(frame, path, fmt, out)
        typer.echo(f"wrote {out}", err=True)


class StudyProgress:
    """A progress bar on stderr: cells done of all, cells and portfolio-bar steps per second,
    time left. Not drawn when stderr is not a terminal."""

    def __init__(self, total: int, done: int) -> None:
        term = Console(stderr=True)
        self.bar = Progress(
            TextColumn("study"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=term,
            transient=True,
            disable=not term.is_terminal,
        )
        self.task = self.bar.add_task("study", total=total, completed=done, rate="")
        self.steps = 0
        self.cells = 0
        self._started = monotonic()

    def __enter__(self) -> StudyProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def elapsed(self) -> float:
        """Seconds since the bar was made."""
        return monotonic() - self._started

    def advance(self, results: list[CellResult]) -> None:
        """Count a completed task's cells."""
        self.cells += len(results)
        self.steps += sum(int(r.cell["portfolio_steps"]) for r in results)
        seconds = max(self.elapsed(), 1e-9)
        rate = f"{self.cells / seconds:.2f} cells/s, {self.steps / seconds:,.0f} steps/s"
        self.bar.update(self.task, advance=len(results), rate=rate)
