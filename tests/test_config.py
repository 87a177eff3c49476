"""Configuration: TOML + LTBOT_ environment, frozen, unknown keys rejected, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.settings import ConfigError, Settings, load_settings
from bot.config.vehicles import DEFAULT_VEHICLES

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "config.example.toml"

MINIMAL = """
[exchange]
symbols = ["BTC/USDT:USDT"]

[[experiments]]
name = "a"
symbol = "BTC/USDT:USDT"
strategy = "hold"
vehicles = ["spot"]

[[experiments]]
name = "b"
symbol = "BTC/USDT:USDT"
strategy = "hold"
vehicles = ["spot", "perp:risk_pct=0.03", "{vehicle}"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    return str(info.value)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LTBOT_"):
            monkeypatch.delenv(key)


def test_example_config_validates_with_its_default_experiments() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.exchange.id == "binanceusdm"
    assert [e.name for e in settings.experiments] == ["btc-hold", "btc-sma", "eth-hold", "eth-sma"]
    labels = [v.label for v in settings.experiments[0].vehicles]
    assert labels == [
        "token:binance_blvt",
        "token:ftx",
        "token:bybit",
        "perp:risk_pct=0.02",
        "perp:risk_pct=0.05",
        "perp_static:leverage=3",
        "spot",
    ]
    assert tuple(labels) == DEFAULT_VEHICLES  # what the benchmarks run


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTBOT_EXCHANGE__POLL_SECONDS", "42")
    monkeypatch.setenv("LTBOT_STORE__PATH", "/tmp/elsewhere.db")
    settings = load_settings(write(tmp_path, "[exchange]\npoll_seconds = 5\n"))
    assert settings.exchange.poll_seconds == 42.0
    assert settings.store.path == Path("/tmp/elsewhere.db")


def test_settings_are_frozen() -> None:
    settings = load_settings(EXAMPLE)
    with pytest.raises(ValidationError):
        settings.exchange.poll_seconds = 1  # type: ignore[misc]


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[exchange]\npoll_secs = 5\n") == "exchange.poll_secs: unknown key"


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[exchanges]\nid = 'x'\n") == "exchanges: unknown key"


def test_unknown_preset_names_experiment_and_vehicle(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL.format(vehicle="token:ftxx"))
    assert message == "experiments[1].vehicles[2]: unknown preset 'ftxx'"


def test_unknown_vehicle_kind(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL.format(vehicle="futures"))
    assert message.startswith("experiments[1].vehicles[2]: unknown vehicle 'futures'")


def test_out_of_range_risk_is_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL.format(vehicle="perp:risk_pct=0.5"))
    assert message.startswith("experiments[1].vehicles[2]: ")
    assert "risk_pct" in message


def test_unknown_vehicle_parameter(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL.format(vehicle="spot:colour=red"))
    assert message == "experiments[1].vehicles[2]: unknown parameter 'colour' for vehicle 'spot'"


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[exchange]\npoll_seconds = 'often'\n")
    assert message.startswith("exchange.poll_seconds: ")


def test_experiment_symbol_must_be_polled(tmp_path: Path) -> None:
    text = MINIMAL.format(vehicle="spot").replace(
        'name = "b"\nsymbol = "BTC/USDT:USDT"', 'name = "b"\nsymbol = "XRP/USDT:USDT"'
    )
    assert error_of(tmp_path, text) == (
        "experiments[1].symbol: 'XRP/USDT:USDT' is not in exchange.symbols"
    )


def test_duplicate_experiment_names(tmp_path: Path) -> None:
    text = MINIMAL.format(vehicle="spot").replace('name = "b"', 'name = "a"')
    assert error_of(tmp_path, text) == "experiments[1].name: duplicate name 'a'"


def test_preset_overrides_are_validated(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[presets.ftx]\nno_such_parameter = 1\n")
    assert message.startswith("presets: ")
    assert "no_such_parameter" in message


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[exchange\n")
    assert message.startswith(f"{tmp_path / 'config.toml'}: invalid TOML")


def test_unknown_timezone(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[report]\ntimezone = 'Mars/Olympus'\n") == (
        "report.timezone: unknown timezone 'Mars/Olympus'"
    )


def test_defaults_without_a_file_are_valid() -> None:
    settings = Settings()
    assert settings.store.path == Path("data/ltbot.db") and settings.experiments == []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )


def test_cli_config_check_prints_one_line_summary() -> None:
    result = run_cli("config", "check", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert "4 experiments, 28 portfolios" in result.stdout


def test_cli_config_check_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(vehicle="token:ftxx"))
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2
    assert result.stderr == "error: experiments[1].vehicles[2]: unknown preset 'ftxx'\n"


def test_cli_config_check_missing_file(tmp_path: Path) -> None:
    result = run_cli("config", "check", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr and "Traceback" not in result.stderr


def test_cli_version_and_help() -> None:
    from bot import __version__

    assert run_cli("--version").stdout == f"ltbot {__version__}\n"
    assert "config" in run_cli("--help").stdout


def test_cli_unknown_log_level_exits_2() -> None:
    result = run_cli("--log-level", "LOUD", "config", "check", str(EXAMPLE))
    assert result.returncode == 2
    assert result.stderr == "error: --log-level: unknown level 'LOUD'\n"
