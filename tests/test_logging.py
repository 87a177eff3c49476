"""Loguru sinks: level filtering, the rotating file beside the database, and a quiet console:
file-only detail, no traceback, `-q`/`-v`, replays without trade lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from bot.runtime.log_setup import Verbosity, configure_logging, log_file_for


@pytest.fixture(autouse=True)
def _reset_sinks() -> Iterator[None]:
    yield
    configure_logging("INFO")  # closes the file sink


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


def _emit_one_of_each() -> None:
    logger.info("scheduler started")
    logger.bind(file_only=True).info("btc/perp entry buy 0.1 @ 100")
    logger.bind(trade=True).info("btc/perp opened long 0.1 BTC/USDT:USDT at 100")
    logger.debug("btc/perp: entry refused: NAV 0.00")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        logger.opt(exception=exc).error("strategy boom failed")


def _console_messages(err: str) -> list[str]:
    # "2026-01-01 00:00:00 INFO    message" -> "INFO message"
    return [" ".join(line.split()[2:]) for line in err.splitlines()]


def test_the_default_console_is_quiet_and_the_file_has_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "ltbot.log"
    configure_logging("INFO", log_file)
    _emit_one_of_each()
    configure_logging("INFO")
    assert _console_messages(capsys.readouterr().err) == [
        "INFO scheduler started",
        "INFO btc/perp opened long 0.1 BTC/USDT:USDT at 100",
        "ERROR strategy boom failed",
    ]
    text = log_file.read_text(encoding="utf-8")
    assert "btc/perp entry buy 0.1 @ 100" in text  # the fill: file only
    assert text.count("Traceback (most recent call last)") == 1  # the traceback: file only
    assert "ZeroDivisionError: division by zero" in text
    assert "entry refused" not in text  # DEBUG: below the file's INFO


def test_quiet_shows_only_warnings_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", verbosity=Verbosity(quiet=True))
    _emit_one_of_each()
    assert _console_messages(capsys.readouterr().err) == ["ERROR strategy boom failed"]


def test_verbose_shows_everything_with_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "ltbot.log"
    configure_logging("INFO", log_file, verbosity=Verbosity(verbose=True))
    _emit_one_of_each()
    configure_logging("INFO")
    err = capsys.readouterr().err
    assert _console_messages(err)[:4] == [
        "INFO scheduler started",
        "INFO btc/perp entry buy 0.1 @ 100",
        "INFO btc/perp opened long 0.1 BTC/USDT:USDT at 100",
        "DEBUG btc/perp: entry refused: NAV 0.00",
    ]
    assert "Traceback (most recent call last)" in err
    assert "entry refused: NAV 0.00" in log_file.read_text(encoding="utf-8")  # file at DEBUG


def test_a_replay_console_leaves_trades_to_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "replay.log"
    configure_logging("INFO", log_file, verbosity=Verbosity(trades=False))
    _emit_one_of_each()
    configure_logging("INFO")
    assert _console_messages(capsys.readouterr().err) == [
        "INFO scheduler started",
        "ERROR strategy boom failed",
    ]
    assert "opened long 0.1 BTC/USDT:USDT at 100" in log_file.read_text(encoding="utf-8")


def test_secrets_are_masked_on_the_console_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", secrets=["T000/B000/XXXX"])
    logger.warning("webhook https://hooks.slack.com/services/T000/B000/XXXX failed")
    assert _console_messages(capsys.readouterr().err) == [
        "WARNING webhook https://hooks.slack.com/services/*** failed"
    ]
