"""Security details (issue 15 point 7): private log files, secrets redacted in the stored config
and in log lines, a warning when the sim exchange binds beyond loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from bot.cli.common import is_loopback, setup_logging
from bot.config.redaction import redact, scrub, secret_texts
from bot.config.settings import Settings, redacted_config, redacted_json
from bot.runtime.log_setup import configure_logging

SLACK = "https://hooks.slack.com/services/T0001/B0001/s3cr3tT0k3n"
TELEGRAM = "https://api.telegram.org/bot123456:AAEsecretToken/sendMessage"
CHAT_ID = "-1001234567890"


def settings_with_secrets(tmp_path: Path, url: str = SLACK, **report: Any) -> Settings:
    return Settings(
        exchange={"symbols": ["BTC/USDT:USDT"], "api_url": "http://user:pa55word@127.0.0.1:8765"},  # type: ignore[arg-type]
        store={"path": tmp_path / "ltbot.db"},  # type: ignore[arg-type]
        report={"webhook_url": url, **report},  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def stderr_logging_after() -> Any:
    yield
    configure_logging("INFO")  # closes the file sinks, drops the masking patcher


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- log files 0600 ----------------------------------------------------------------------


def test_the_log_file_is_private_like_the_database(tmp_path: Path) -> None:
    log_file = tmp_path / "sub" / "ltbot.log"
    configure_logging("INFO", log_file)
    logger.info("hello")
    assert mode(log_file) == 0o600


def test_an_existing_world_readable_log_file_becomes_private(tmp_path: Path) -> None:
    log_file = tmp_path / "ltbot.log"
    log_file.write_text("older lines\n", encoding="utf-8")
    log_file.chmod(0o644)
    configure_logging("INFO", log_file)
    logger.info("hello")
    assert mode(log_file) == 0o600
    assert log_file.read_text(encoding="utf-8").startswith("older lines\n")


def test_rotated_log_files_are_private_too(tmp_path: Path) -> None:
    log_file = tmp_path / "ltbot.log"
    configure_logging("INFO", log_file, rotation="200 B", retention=10)
    for i in range(20):
        logger.info("line {} of a log that rotates every 200 bytes", i)
    configure_logging("INFO")
    files = sorted(tmp_path.iterdir())
    assert len(files) > 2
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


# -- secrets out of runs.config ----------------------------------------------------------


def test_redacted_config_masks_webhook_chat_id_and_url_credentials(tmp_path: Path) -> None:
    settings = settings_with_secrets(
        tmp_path, TELEGRAM, webhook_format="telegram", telegram_chat_id=CHAT_ID
    )
    config = redacted_config(settings)
    assert config["report"]["webhook_url"] == "https://api.telegram.org/***"
    assert config["report"]["telegram_chat_id"] == "***"
    assert config["report"]["webhook_format"] == "telegram"
    assert config["exchange"]["api_url"] == "http://***@127.0.0.1:8765"
    # everything else is the plain JSON dump
    plain = json.loads(settings.model_dump_json())
    for section in ("store", "log", "experiments", "presets"):
        assert config[section] == plain[section]
    text = redacted_json(settings)
    assert json.loads(text) == config
    for secret in ("AAEsecretToken", "123456", CHAT_ID, "pa55word"):
        assert secret not in text


def test_unset_secrets_stay_visible_as_unset(tmp_path: Path) -> None:
    config = redacted_config(Settings(store={"path": tmp_path / "x.db"}))  # type: ignore[arg-type]
    assert config["report"]["webhook_url"] is None
    assert config["report"]["telegram_chat_id"] is None


def test_secret_like_keys_are_masked_at_any_depth() -> None:
    document = {
        "experiments": [{"params": {"api_key": "k-123456", "fast": 20, "auth_token": 7}}],
        "report": {"password": "hunter22", "out_dir": "reports"},
    }
    assert redact(document) == {
        "experiments": [{"params": {"api_key": "***", "fast": 20, "auth_token": "***"}}],
        "report": {"password": "***", "out_dir": "reports"},
    }


def test_secret_texts_include_the_webhook_path_and_skip_short_values() -> None:
    document = {"report": {"webhook_url": SLACK, "telegram_chat_id": "42"}}
    assert secret_texts(document) == [SLACK, "/services/T0001/B0001/s3cr3tT0k3n"]
    assert scrub(f"POST {SLACK} failed", secret_texts(document)) == "POST *** failed"


# -- secrets out of the logs -------------------------------------------------------------


def test_secrets_are_masked_in_the_log_file_and_the_config_is_logged_redacted(
    tmp_path: Path,
) -> None:
    # Arrange
    settings = settings_with_secrets(
        tmp_path, TELEGRAM, webhook_format="telegram", telegram_chat_id=CHAT_ID
    )
    settings = settings.model_copy(
        update={"log": settings.log.model_copy(update={"level": "DEBUG"})}
    )

    # Act
    setup_logging(None, settings)  # type: ignore[arg-type]
    logger.warning("webhook {} for chat {} failed", TELEGRAM, CHAT_ID)
    logger.info("a path alone: /bot123456:AAEsecretToken/sendMessage")
    configure_logging("INFO")

    # Assert
    text = (tmp_path / "ltbot.log").read_text(encoding="utf-8")
    assert "effective config (secrets redacted):" in text
    assert "https://api.telegram.org/***" in text
    assert "webhook *** for chat *** failed" in text
    assert "a path alone: ***" in text
    for secret in ("AAEsecretToken", CHAT_ID, "pa55word"):
        assert secret not in text


def test_tracebacks_in_the_log_show_no_local_variables(tmp_path: Path) -> None:
    log_file = tmp_path / "ltbot.log"
    configure_logging("INFO", log_file)
    webhook = SLACK
    try:
        raise RuntimeError("boom " + str(len(webhook)))
    except RuntimeError:
        logger.exception("step failed")
    configure_logging("INFO")
    text = log_file.read_text(encoding="utf-8")
    assert "RuntimeError: boom" in text
    assert "s3cr3tT0k3n" not in text


# -- sim exchange beyond loopback --------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_sim_exchange_warns_in_one_line_when_bound_beyond_loopback() -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the warning comes first, then
    # binding fails, so nothing ever listens on a public interface during the test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sim-exchange", "--host", "192.0.2.1", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "warning: --host 192.0.2.1 is not a loopback address: the sim exchange is reachable "
        "from other machines"
    )
    assert result.returncode == 2
    assert lines[1].startswith("error: cannot listen on 192.0.2.1:0")
