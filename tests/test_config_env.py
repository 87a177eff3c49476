"""Environment overrides through the real CLI (issue 17 point 8, config side): lists as a
comma-separated list or JSON, one `error:` line otherwise, and `LTBOT_EXPERIMENTS__<i>__<key>`
overriding one key of the i-th experiment of the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.config.environment import split_list
from bot.config.settings import ConfigError, load_settings

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]
[store]
path = "db/ltbot.db"

[[experiments]]
name = "btc"
symbol = "BTC/USDT:USDT"
strategy = "sma_cross"
params = { fast = 2, slow = 3 }
vehicles = ["spot"]

[[experiments]]
name = "btc-hold"
symbol = "BTC/USDT:USDT"
strategy = "hold"
vehicles = ["spot"]
"""


@pytest.fixture(autouse=True)
def no_ltbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("LTBOT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def check(config: Path, env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("value", "symbols"),
    [
        ("BTC/USDT:USDT", 1),
        ("BTC/USDT:USDT,ETH/USDT:USDT", 2),
        (" BTC/USDT:USDT , ETH/USDT:USDT ", 2),
        ('["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]', 3),
    ],
)
def test_symbols_from_the_environment_as_a_comma_list_or_json(
    config: Path, value: str, symbols: int
) -> None:
    code, out, err = check(config, {"LTBOT_EXCHANGE__SYMBOLS": value})
    assert (code, err) == (0, "")
    assert out == (
        f"{config}: ok: exchange binanceusdm ({symbols} symbols, poll 15s), 2 experiments, "
        "2 portfolios, database db/ltbot.db\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '["BTC/USDT:USDT"',
            "LTBOT_EXCHANGE__SYMBOLS: not valid JSON (expected a JSON list or a comma-separated "
            "list)",
        ),
        (
            "BTC/USDT:USDT,",
            "LTBOT_EXCHANGE__SYMBOLS: empty item in the comma-separated list 'BTC/USDT:USDT,'",
        ),
    ],
)
def test_a_list_that_cannot_be_read_is_one_line(config: Path, value: str, message: str) -> None:
    assert check(config, {"LTBOT_EXCHANGE__SYMBOLS": value}) == (2, "", f"error: {message}\n")


def test_the_first_experiments_fill_from_the_environment(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"LTBOT_EXPERIMENTS__0__FILL": "next_open", "LTBOT_EXPERIMENTS__0__PARAMS__FAST": "1"}
    assert check(config, env)[0] == 0
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    first, second = load_settings(config).experiments
    assert (first.fill, first.params, second.fill) == ("next_open", {"fast": 1, "slow": 3}, "close")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LTBOT_EXPERIMENTS__2__FILL": "next_open"},
            "LTBOT_EXPERIMENTS__2__FILL: there is no experiments[2] (the config has 2)",
        ),
        (
            {"LTBOT_EXPERIMENTS__0__FILL": "later"},
            'experiments[0].fill: expected "close" or "next_open", got \'later\'',
        ),
        (
            {"LTBOT_EXPERIMENTS__1__COLOUR": "red"},
            "experiments[1].colour: unknown key",
        ),
        (
            {"LTBOT_EXPERIMENTS__0__FILL": "next_open", "LTBOT_EXPERIMENTS": "[]"},
            "LTBOT_EXPERIMENTS__0__FILL: cannot be combined with LTBOT_EXPERIMENTS",
        ),
    ],
)
def test_a_bad_experiment_override_is_one_line(
    config: Path, env: dict[str, str], message: str
) -> None:
    assert check(config, env) == (2, "", f"error: {message}\n")


def test_vehicles_of_one_experiment_from_the_environment_are_json(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vehicle strings hold commas themselves ("perp:risk_pct=0.03,max_leverage=5"): JSON only.
    monkeypatch.setenv("LTBOT_EXPERIMENTS__1__VEHICLES", '["spot", "perp_static:leverage=2"]')
    labels = [v.label for v in load_settings(config).experiments[1].vehicles]
    assert labels == ["spot", "perp_static:leverage=2"]
    monkeypatch.setenv("LTBOT_EXPERIMENTS__1__VEHICLES", "spot")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value) == (
        "LTBOT_EXPERIMENTS__1__VEHICLES: not valid JSON (expected a JSON list)"
    )


def test_split_list() -> None:
    assert split_list("a, b ,c") == ["a", "b", "c"]
    with pytest.raises(ValueError, match="empty item"):
        split_list("a,,b")
