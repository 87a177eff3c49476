"""Config bounds (issue 15 point 6): every bad value exits 2 from the real CLI with one line
naming the key, and `ltbot run` creates no database, log or directory on the way out."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.config.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]

GOOD = """
[exchange]
symbols = ["BTC/USDT:USDT"]
poll_seconds = 15
timeout_ms = 2000

[store]
path = "ledger/ltbot.db"
tick_retention_days = 0

[[experiments]]
name = "btc"
symbol = "BTC/USDT:USDT"
strategy = "hold"
capital = 10000
vehicles = ["token:ftx", "spot"]
"""


@dataclass(frozen=True)
class Case:
    """One bad input: a replacement in GOOD (or raw bytes), extra environment, the message."""

    id: str
    message: str
    replace: tuple[str, str] | None = None
    raw: bytes | None = None
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "non-utf8-config",
        "config.toml: not UTF-8 text (byte 0xff at offset 1)",
        raw=b"#\xff\n" + GOOD.encode(),
    ),
    Case(
        "env-symbols-not-json",
        "LTBOT_EXCHANGE__SYMBOLS: not valid JSON (expected a JSON list or a comma-separated list)",
        env={"LTBOT_EXCHANGE__SYMBOLS": '["BTC/USDT:USDT", "ETH/USDT:USDT"'},
    ),
    Case(
        "env-symbols-empty-item",
        "LTBOT_EXCHANGE__SYMBOLS: empty item in the comma-separated list 'BTC/USDT:USDT,,'",
        env={"LTBOT_EXCHANGE__SYMBOLS": "BTC/USDT:USDT,,"},
    ),
    Case(
        "env-experiments-not-json",
        "LTBOT_EXPERIMENTS: not valid JSON (expected a JSON list)",
        env={"LTBOT_EXPERIMENTS": "btc"},
    ),
    Case(
        "env-exchange-not-json",
        "LTBOT_EXCHANGE: not valid JSON (expected a JSON object)",
        env={"LTBOT_EXCHANGE": "binanceusdm"},
    ),
    Case(
        "poll-inf",
        "exchange.poll_seconds: Input should be a finite number",
        replace=("poll_seconds = 15", "poll_seconds = inf"),
    ),
    Case(
        "poll-1e-9",
        "exchange.poll_seconds: Input should be greater than or equal to 0.01",
        replace=("poll_seconds = 15", "poll_seconds = 1e-9"),
    ),
    Case(
        "tick-retention-huge",
        "store.tick_retention_days: Input should be less than or equal to 3650",
        replace=("tick_retention_days = 0", "tick_retention_days = 99999999999999999"),
    ),
    Case(
        "capital-true",
        "experiments[0].capital: expected a number, got true",
        replace=("capital = 10000", "capital = true"),
    ),
    Case(
        "capital-inf",
        "experiments[0].capital: Input should be a finite number",
        replace=("capital = 10000", "capital = inf"),
    ),
    Case(
        "capital-1e400",
        "experiments[0].capital: Input should be a finite number",
        replace=("capital = 10000", "capital = 1e400"),
    ),
    Case(
        "target-leverage-1000",
        "experiments[0].vehicles[0]: preset 'ftx': target_leverage must be at most 10, got 1000",
        replace=('"token:ftx"', '"token:ftx:target_leverage=1000"'),
    ),
    Case(
        "timeout-huge",
        "exchange.timeout_ms: Input should be less than or equal to 300000",
        replace=("timeout_ms = 2000", "timeout_ms = 99999999999999"),
    ),
    Case(
        "exchange-ccxt-has-but-ltbot-does-not-support",
        "exchange.id: unsupported exchange 'kraken' (supported: binanceusdm, bybit, okx)",
        replace=("[exchange]", '[exchange]\nid = "kraken"'),
    ),
]
# Checked in-process (the CLI path is the same as above): the other bounds.
MORE_CASES = [
    Case(
        "env-preset-not-json",
        "LTBOT_PRESETS__FTX: not valid JSON (expected a JSON object)",
        env={"LTBOT_PRESETS__FTX": "target_leverage=2"},
    ),
    Case(
        "poll-nan",
        "exchange.poll_seconds: Input should be a finite number",
        replace=("poll_seconds = 15", "poll_seconds = nan"),
    ),
    Case(
        "poll-too-fast-for-a-real-exchange",
        "exchange.poll_seconds: 0.5 s is below 1 s, allowed only with exchange.api_url "
        "(sim exchange)",
        replace=("poll_seconds = 15", "poll_seconds = 0.5"),
    ),
    Case(
        "poll-longer-than-a-day",
        "exchange.poll_seconds: Input should be less than or equal to 86400",
        replace=("poll_seconds = 15", "poll_seconds = 1e9"),
    ),
    Case(
        "poll-from-env-inf",
        "exchange.poll_seconds: Input should be a finite number",
        env={"LTBOT_EXCHANGE__POLL_SECONDS": "inf"},
    ),
    Case(
        "capital-huge",
        "experiments[0].capital: Input should be less than or equal to 1000000000000",
        replace=("capital = 10000", "capital = 1e300"),
    ),
    Case(
        "target-leverage-beyond-the-preset-trigger",
        "experiments[0].vehicles[0]: preset 'ftx': target_leverage 5 is outside the preset's "
        "range: max_leverage is 4",
        replace=('"token:ftx"', '"token:ftx:target_leverage=5"'),
    ),
    Case(
        "timeout-bool",
        "exchange.timeout_ms: expected a number, got true",
        replace=("timeout_ms = 2000", "timeout_ms = true"),
    ),
]


@pytest.fixture(autouse=True)
def no_ltbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("LTBOT_"):
            monkeypatch.delenv(key)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LTBOT_")}
    return {**env, **extra}


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@dataclass(frozen=True)
class Outcome:
    result: subprocess.CompletedProcess[str]
    files: list[str]


def run_case(case: Case, directory: Path) -> Outcome:
    config = directory / "config.toml"
    if case.raw is not None:
        config.write_bytes(case.raw)
    else:
        old, new = case.replace or ("", "")
        assert old in GOOD
        config.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", "config.toml"],
        capture_output=True,
        text=True,
        cwd=directory,
        env=clean_env(case.env),
        timeout=60,
        check=False,
    )
    return Outcome(result, files_under(directory))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    directories = [tmp_path_factory.mktemp(case.id) for case in CASES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(run_case, CASES, directories)
        return dict(zip([c.id for c in CASES], done, strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_value_exits_2_with_one_line_and_creates_nothing(
    case: Case, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[case.id]
    assert outcome.result.returncode == 2, outcome.result.stderr
    assert outcome.result.stderr == f"error: {case.message}\n"
    assert outcome.files == ["config.toml"]  # no ledger/, database, log or report


@pytest.mark.parametrize("case", MORE_CASES, ids=[c.id for c in MORE_CASES])
def test_other_bad_values_name_the_key(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    old, new = case.replace or ("", "")
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == case.message


def test_the_good_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD, encoding="utf-8")
    settings = load_settings(path)
    assert settings.experiments[0].capital == 10_000.0


@pytest.mark.parametrize(
    ("replace", "value"),
    [
        (("poll_seconds = 15", 'poll_seconds = 0.05\napi_url = "http://127.0.0.1:8765"'), 0.05),
        (("poll_seconds = 15", "poll_seconds = 86400"), 86_400.0),
    ],
)
def test_fast_polls_are_fine_against_the_sim_exchange_and_a_day_is_the_longest(
    tmp_path: Path, replace: tuple[str, str], value: float
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace(*replace), encoding="utf-8")
    assert load_settings(path).exchange.poll_seconds == value


@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit", "okx"])
def test_every_supported_exchange_id_is_accepted(tmp_path: Path, exchange: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace("[exchange]", f'[exchange]\nid = "{exchange}"'), "utf-8")
    assert load_settings(path).exchange.id == exchange


def test_target_leverage_inside_the_preset_range_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = GOOD.replace('"token:ftx"', '"token:ftx:max_leverage=8,target_leverage=5"')
    path.write_text(text, encoding="utf-8")
    assert load_settings(path).experiments[0].vehicles[0].params["target_leverage"] == 5


def test_valid_json_in_the_environment_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LTBOT_EXCHANGE__SYMBOLS", '["BTC/USDT:USDT", "ETH/USDT:USDT"]')
    path = tmp_path / "config.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_settings(path).exchange.symbols == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def test_a_bad_environment_value_is_reported_before_the_file_is_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LTBOT_EXCHANGE__SYMBOLS", "[BTC")
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace("capital = 10000", "capital = -1"), encoding="utf-8")
    with pytest.raises(ConfigError, match="^LTBOT_EXCHANGE__SYMBOLS: not valid JSON"):
        load_settings(path)
