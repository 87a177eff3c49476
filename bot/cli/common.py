"""Helpers shared by the commands: the common options, settings loading, logging set-up,
one-line errors and output that is never cut when piped."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from loguru import logger
from rich.console import Console
from rich.table import Table

from bot.config.redaction import secret_texts
from bot.config.settings import ConfigError, Settings, load_settings, redacted_json
from bot.runtime.log_setup import Verbosity, configure_logging, log_file_for

# Every command and group: `-h` is `--help`.
CONTEXT = {"help_option_names": ["-h", "--help"]}
STRATEGY_PATHS_ENV = "LTBOT_STRATEGIES__PATHS"

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: config.toml).")
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Console: warnings and errors only (the log file keeps the rest)."
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Console and log file at DEBUG: every fill, refusal and traceback on the console.",
    ),
]
StrategyPathOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--strategy-path",
        help="Also load strategies from this directory (repeatable; replaces the config's "
        "[strategies] paths).",
        show_default=False,
    ),
]


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def use_strategy_paths(paths: list[Path] | None) -> None:
    """Pass `--strategy-path` directories to the settings as `LTBOT_STRATEGIES__PATHS` (a JSON
    list of absolute paths); call before loading settings. Exit 2 for a path that is not a
    directory."""
    if not paths:
        return
    for path in paths:
        if not path.is_dir():
            raise fail(f"--strategy-path {path}: not a directory")
    os.environ[STRATEGY_PATHS_ENV] = json.dumps([str(p.resolve()) for p in paths])


def load(config: Path | None, strategy_paths: list[Path] | None = None) -> Settings:
    """Load settings (after `--strategy-path`) or exit 2 with the offending key."""
    use_strategy_paths(strategy_paths)
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def with_database(settings: Settings, db: Path | None) -> Settings:
    """The same settings with `store.path` replaced when `db` is given."""
    if db is None:
        return settings
    return settings.model_copy(update={"store": settings.store.model_copy(update={"path": db})})


def verbosity(
    ctx: typer.Context | None, quiet: bool = False, verbose: bool = False, trades: bool = True
) -> Verbosity:
    """The console's verbosity from the command's `-q`/`-v` and the root's; exit 2 for both.
    `trades` False leaves position opens and closes to the log file."""
    root = _root_options(ctx)
    quiet, verbose = quiet or bool(root.get("quiet")), verbose or bool(root.get("verbose"))
    if quiet and verbose:
        raise fail("-q/--quiet and -v/--verbose exclude each other")
    return Verbosity(quiet=quiet, verbose=verbose, trades=trades)


def setup_logging(
    ctx: typer.Context | None,
    settings: Settings,
    file: bool = True,
    quiet: bool = False,
    verbose: bool = False,
    trades: bool = True,
) -> None:
    """Configure loguru for a command that uses the database: the console plus (`file`) the
    rotating file beside the database, at `--log-level` if given, else the config's
    `log.level`; the config's secrets are masked in every message. `trades` False: position
    opens and closes go to the file only (a replay shows a progress bar instead)."""
    cli_level = _root_options(ctx).get("log_level")
    log_file = log_file_for(settings.store.path) if file else None
    try:
        configure_logging(
            (cli_level or settings.log.level).upper(),
            log_file,
            settings.log.rotation,
            settings.log.retention,
            secrets=secret_texts(json.loads(settings.model_dump_json())),
            verbosity=verbosity(ctx, quiet, verbose, trades),
        )
    except OSError as exc:  # e.g. the database's parent is a file, or is read-only
        raise fail(f"{log_file}: cannot create the log file: {exc.strerror}") from None
    except ValueError as exc:  # loguru rejects the rotation text
        raise fail(f"log.rotation: {exc}") from None
    logger.debug("effective config (secrets redacted): {}", redacted_json(settings))


def setup_console(ctx: typer.Context | None, quiet: bool = False, verbose: bool = False) -> None:
    """The console sink alone (a command without a database, e.g. `ltbot download`), at the
    root's `--log-level` (default INFO) and this command's `-q`/`-v`."""
    level = (_root_options(ctx).get("log_level") or "INFO").upper()
    try:
        configure_logging(level, verbosity=verbosity(ctx, quiet, verbose))
    except ValueError:
        raise fail(f"--log-level: unknown level {level!r}") from None


def _root_options(ctx: typer.Context | None) -> dict[str, Any]:
    return (ctx.find_root().obj or {}) if ctx is not None else {}


def console() -> Console:
    """A Rich console for stdout; when stdout is not a terminal (CI, pipes), one that never
    wraps or cuts a line, prints no colour and prints tables as plain text."""
    if sys.stdout.isatty():
        return Console()
    return PlainConsole(width=100_000, no_color=True, highlight=False, soft_wrap=True)


class PlainConsole(Console):
    """A console for pipes and files: each table printed as plain text (`plain_table`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # noqa: D102 - Console.print
        texts = [plain_table(o) if isinstance(o, Table) else o for o in objects]
        if any(isinstance(o, Table) for o in objects):
            kwargs = {**kwargs, "markup": False, "highlight": False}
        super().print(*texts, **kwargs)


def plain_table(table: Table) -> str:
    """`table` as plain text: no box, no colour, no trailing blanks, each column as wide as
    its widest cell, so no number is ever cut."""
    plain = Table(
        title=table.title,
        title_justify="left",
        box=None,
        pad_edge=False,
        show_header=table.show_header,
    )
    for column in table.columns:
        plain.add_column(column.header, justify=column.justify, no_wrap=True)
    for row in zip(*(list(column.cells) for column in table.columns), strict=True):
        plain.add_row(*row)
    out = Console(file=io.StringIO(), width=100_000, no_color=True, highlight=False)
    with out.capture() as captured:
        out.print(plain)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def print_table(table: Table) -> None:
    """Print `table` on stdout (plain text when stdout is not a terminal)."""
    console().print(table)


def is_loopback(host: str) -> bool:
    """Whether binding `host` stays on this machine (a host name may resolve anywhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False
