"""Loguru sinks: level filtering and the rotating file beside the database."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from bot.runtime.log_setup import configure_logging, log_file_for


def test_log_file_sits_beside_the_database() -> None:
    assert log_file_for(Path("data/ltbot.db")) == Path("data/ltbot.log")


def test_file_sink_respects_the_level(tmp_path: Path) -> None:
    log_file = tmp_path / "sub" / "ltbot.log"
    configure_logging("WARNING", log_file)
    logger.info("quiet detail")
    logger.warning("poll skipped")
    configure_logging("INFO")  # closes the file sink
    text = log_file.read_text(encoding="utf-8")
    assert "poll skipped" in text and "quiet detail" not in text
    assert "| WARNING |" in text
