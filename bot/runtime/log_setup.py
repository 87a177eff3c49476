"""Loguru set-up, called once from the CLI: a human-readable stderr sink and a rotating file."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

_STDERR_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss}</green> <level>{level: <7}</level> {message}"
_FILE_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} | {level: <7} | {name}:{function}:{line} | {message}"
)


def configure_logging(
    level: str = "INFO",
    log_file: Path | None = None,
    rotation: str = "10 MB",
    retention: int = 5,
) -> None:
    """Replace every sink with stderr (at `level`) and, if given, a rotating `log_file`.

    Calling it again replaces the sinks, so it is safe for the CLI to call it once per command.
    """
    logger.remove()
    logger.add(sys.stderr, level=level, format=_STDERR_FORMAT, colorize=None, backtrace=False)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_file,
            level=level,
            format=_FILE_FORMAT,
            rotation=rotation,
            retention=retention,
            encoding="utf-8",
            enqueue=False,
        )


def log_file_for(database: Path) -> Path:
    """The log file lives beside the database: `data/ltbot.db` -> `data/ltbot.log`."""
    return database.with_suffix(".log")
