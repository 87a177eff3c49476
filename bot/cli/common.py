"""Helpers shared by the commands: settings loading, logging set-up, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from loguru import logger
from rich.console import Console

from bot.config.redaction import secret_texts
from bot.config.settings import ConfigError, Settings, load_settings, redacted_json
from bot.runtime.log_setup import configure_logging, log_file_for


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def load(config: Path | None) -> Settings:
    """Load settings or exit 2 with the offending key."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def with_database(settings: Settings, db: Path | None) -> Settings:
    """The same settings with `store.path` replaced when `db` is given."""
    if db is None:
        return settings
    return settings.model_copy(update={"store": settings.store.model_copy(update={"path": db})})


def setup_logging(ctx: typer.Context, settings: Settings, file: bool = True) -> None:
    """Configure loguru for a command that uses the database: stderr plus the rotating file
    beside it, at `--log-level` if given, else the config's `log.level`; the config's secrets
    are masked in every message."""
    cli_level = ((ctx.find_root().obj or {}) if ctx is not None else {}).get("log_level")
    log_file = log_file_for(settings.store.path) if file else None
    try:
        configure_logging(
            (cli_level or settings.log.level).upper(),
            log_file,
            settings.log.rotation,
            settings.log.retention,
            secrets=secret_texts(json.loads(settings.model_dump_json())),
        )
    except OSError as exc:  # e.g. the database's parent is a file, or is read-only
        raise fail(f"{log_file}: cannot create the log file: {exc.strerror}") from None
    except ValueError as exc:  # loguru rejects the rotation text
        raise fail(f"log.rotation: {exc}") from None
    logger.debug("effective config (secrets redacted): {}", redacted_json(settings))


def console() -> Console:
    """A Rich console; when output is not a terminal (CI, pipes), wide enough for our tables."""
    return Console() if sys.stdout.isatty() else Console(width=160)
