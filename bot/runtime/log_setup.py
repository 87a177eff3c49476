"""Loguru set-up, called once from the CLI: a human-readable stderr sink and a rotating file.

The log file is private like the database (mode 0600, rotated files too), and secrets of the
config (`bot/config/redaction.py`) are masked in every message. Tracebacks never print local
variables (`diagnose=False`): they would show config values such as a webhook URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from bot.config.redaction import scrub

LOG_FILE_MODE = 0o600

_STDERR_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss}</green> <level>{level: <7}</level> {message}"
_FILE_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} | {level: <7} | {name}:{function}:{line} | {message}"
)


def configure_logging(
    level: str = "INFO",
    log_file: Path | None = None,
    rotation: str = "10 MB",
    retention: int = 5,
    secrets: Sequence[str] = (),
) -> None:
    """Replace every sink with stderr (at `level`) and, if given, a rotating `log_file`.

    Calling it again replaces the sinks, so it is safe for the CLI to call it once per command.
    Each of `secrets` is replaced by "***" in every message.
    """
    logger.remove()
    logger.configure(patcher=_masking(list(secrets)) if secrets else None)
    logger.add(
        sys.stderr,
        level=level,
        format=_STDERR_FORMAT,
        colorize=None,
        backtrace=False,
        diagnose=False,
    )
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if log_file.exists():  # written by an older version, or under another umask
            log_file.chmod(LOG_FILE_MODE)
        logger.add(
            log_file,
            level=level,
            format=_FILE_FORMAT,
            rotation=rotation,
            retention=retention,
            encoding="utf-8",
            enqueue=False,
            diagnose=False,
            opener=_private_opener,
        )


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
