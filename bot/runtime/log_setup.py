"""Loguru set-up, called once from the CLI: a quiet console sink and a rotating log file.

The console (stderr) shows what a person watching needs: start-up, one line per problem
streak, position opens and closes, the run summary. A record bound with `file_only=True`
(`logger.bind(file_only=True)`: each fill, a strategy's traceback) goes to the log file only,
unless the console is verbose; the console never prints a traceback (its one line names the
problem; the file has the traceback). The console writes to whatever `sys.stderr` is at the
time, so a Rich progress bar that redirects stderr keeps the log lines above it, unbroken.

The log file is private like the database (mode 0600, rotated files too), and secrets of the
config (`bot/config/redaction.py`) are masked in every message, on both sinks. Tracebacks never
print local variables (`diagnose=False`): they would show config values such as a webhook URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from bot.config.redaction import scrub

LOG_FILE_MODE = 0o600
# `logger.bind(file_only=True)`: the record goes to the log file, not to a quiet console.
FILE_ONLY = "file_only"
# `logger.bind(trade=True)`: a position opened or closed; a replay's console leaves it out.
TRADE = "trade"
# Modules whose every line is bookkeeping detail for the file: a portfolio's notes (each stop
# moved, a funding repricing, a refused entry), one per bar and portfolio in a replay.
FILE_ONLY_MODULES = frozenset({"bot.portfolios.accounts"})

_CONSOLE_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss}</green> <level>{level: <7}</level> {message}\n"
_FILE_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} | {level: <7} | {name}:{function}:{line} | {message}"
)


@dataclass(frozen=True, slots=True)
class Verbosity:
    """How much the console shows: `quiet` only warnings and errors, `verbose` everything the
    log file gets (fills, refusals at DEBUG, tracebacks); neither: the quiet default, with
    position opens and closes unless `trades` is False (a replay, which has a progress bar)."""

    quiet: bool = False
    verbose: bool = False
    trades: bool = True  # False: position opens/closes (bound `trade=True`) to the file only

    def console_level(self, level: str) -> str:
        """The console's level given the log's `level`."""
        if self.verbose:
            return "DEBUG" if logger.level(level).no > logger.level("DEBUG").no else level
        if self.quiet and logger.level(level).no < logger.level("WARNING").no:
            return "WARNING"
        return level


def configure_logging(
    level: str = "INFO",
    log_file: Path | None = None,
    rotation: str = "10 MB",
    retention: int = 5,
    secrets: Sequence[str] = (),
    verbosity: Verbosity = Verbosity(),
) -> None:
    """Replace every sink with the console (stderr) and, if given, a rotating `log_file` at
    `level` (DEBUG when verbose).

    Calling it again replaces the sinks, so it is safe for the CLI to call it once per command.
    Each of `secrets` is replaced by "***" in every message.
    """
    logger.remove()
    logger.configure(patcher=_masking(list(secrets)) if secrets else None)
    file_level = verbosity.console_level(level) if verbosity.verbose else level
    logger.add(
        _to_stderr,
        level=verbosity.console_level(level),
        format=_verbose_format if verbosity.verbose else _console_format,
        filter=None if verbosity.verbose else _console_filter(verbosity.trades),
        colorize=sys.stderr.isatty(),
        backtrace=False,
        diagnose=False,
    )
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if log_file.exists():  # written by an older version, or under another umask
            log_file.chmod(LOG_FILE_MODE)
        logger.add(
            log_file,
            level=file_level,
            format=_FILE_FORMAT,
            rotation=rotation,
            retention=retention,
            encoding="utf-8",
            enqueue=False,
            diagnose=False,
            opener=_private_opener,
        )


def _to_stderr(message: Any) -> None:
    # Looked up at each write: a Rich progress bar replaces sys.stderr while it shows.
    sys.stderr.write(str(message))


def _console_format(record: Any) -> str:
    # A callable format gets no "{exception}" appended: the console never shows a traceback.
    return _CONSOLE_FORMAT


def _verbose_format(record: Any) -> str:
    return _CONSOLE_FORMAT + "{exception}"


def _console_filter(trades: bool) -> Any:
    def keep(record: Any) -> bool:
        extra = record["extra"]
        if extra.get(FILE_ONLY, False) or record["name"] in FILE_ONLY_MODULES:
            return False
        return trades or not extra.get(TRADE, False)

    return keep


def _private_opener(path: str, flags: int) -> int:
    # Every file the sink opens, the first and each one after a rotation, is created 0600.
    return os.open(path, flags, LOG_FILE_MODE)


def _masking(secrets: list[str]) -> Any:
    def patch(record: Any) -> None:
        record["message"] = scrub(record["message"], secrets)

    return patch


def log_file_for(database: Path) -> Path:
    """The log file lives beside the database: `data/ltbot.db` -> `data/ltbot.log`."""
    return database.with_suffix(".log")
