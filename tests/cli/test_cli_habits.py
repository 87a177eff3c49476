"""The CLI habits of issue 17 point 8, through the real app (typer's CliRunner): `-h` and
`-c/--config` everywhere, `config check --config`, `config show`, `--strategy-path`, and
`status` with every holding as of its time, in plain text when piped."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.sqlite.store import Store
from bot.cli.main import app
from tests.reports.report_ledger import write_fixed_ledger

STRATEGY_PATHS_ENV = "LTBOT_STRATEGIES__PATHS"
SECRET_HOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"

CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]
poll_seconds = 10

[store]
path = "{db}"

[report]
webhook_url = "{hook}"
telegram_chat_id = "987654321"
"""

EXPERIMENT = """
[[experiments]]
name = "btc"
symbol = "BTC/USDT:USDT"
strategy = "{strategy}"
capital = 10000
vehicles = ["spot"]
"""

# A strategy outside the shipped package, for --strategy-path.
STEADY = """
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams


class Steady(Strategy[StrategyParams]):
    name = "steady"
    timeframe = "4h"
    Params = StrategyParams

    def on_bar(self, history: HistoryView) -> Signal | None:
        return Signal(Direction.LONG)
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # No config.toml of the checkout in the way; --strategy-path sets an environment variable
    # in the process, which must not leak into other tests.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STRATEGY_PATHS_ENV, raising=False)
    yield
    monkeypatch.delenv(STRATEGY_PATHS_ENV, raising=False)


def _config(tmp_path: Path, strategy: str | None = None) -> Path:
    path = tmp_path / "my.toml"
    text = CONFIG.format(db=tmp_path / "ledger.db", hook=SECRET_HOOK)
    if strategy is not None:
        text += EXPERIMENT.format(strategy=strategy)
    path.write_text(text, encoding="utf-8")
    return path


COMMANDS = [
    [], ["run"], ["replay"], ["demo"], ["status"], ["strategies"], ["presets"], ["report"],
    ["download"], ["sim-exchange"], ["config"], ["config", "check"], ["config", "show"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "ltbot")
def test_dash_h_is_help_everywhere(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "-h"])
    assert result.exit_code == 0
    assert f"Usage: {' '.join(['ltbot', *command])} [OPTIONS]" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["replay", "--data", "x"],
        ["status"],
        ["report"],
        ["strategies"],
        ["config", "check"],
        ["config", "show"],
    ],  # fmt: skip
    ids=lambda c: " ".join(c[:2]),
)
def test_dash_c_names_the_config_of_every_command_that_reads_one(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "-c", "missing.toml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: missing.toml: config file not found")
    assert len(result.stderr.splitlines()) == 1


def test_config_check_takes_the_file_by_option_or_argument(tmp_path: Path) -> None:
    config = _config(tmp_path)
    expected = (
        f"{config}: ok: exchange binanceusdm (1 symbols, poll 10s), 0 experiments, "
        f"0 portfolios, database {tmp_path / 'ledger.db'}\n"
    )
    for args in (["-c", str(config)], ["--config", str(config)], [str(config)]):
        result = CliRunner().invoke(app, ["config", "check", *args])
        assert (result.exit_code, result.stdout) == (0, expected), result.stderr
    both = CliRunner().invoke(app, ["config", "check", str(config), "-c", "other.toml"])
    assert both.exit_code == 2
    assert both.stderr == f"error: two config files given: {config} and --config other.toml\n"


def test_config_show_prints_the_effective_config_with_secrets_redacted(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(
        app, ["config", "show", "-c", str(config)], env={"LTBOT_EXCHANGE__POLL_SECONDS": "7"}
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"# effective config: {config} plus LTBOT_* environment; secrets shown as ***"
    )
    assert "XXXXSECRET" not in result.stdout and "987654321" not in result.stdout
    shown = tomllib.loads(result.stdout)  # valid TOML
    assert shown["exchange"]["poll_seconds"] == 7.0  # the environment's value, not 10
    assert shown["exchange"]["symbols"] == ["BTC/USDT:USDT"]
    assert shown["store"]["path"] == str(tmp_path / "ledger.db")
    assert shown["report"]["webhook_url"] == "https://hooks.slack.com/***"
    assert shown["report"]["telegram_chat_id"] == "***"
    assert 'webhook_url = "https://hooks.slack.com/***"' in lines


def test_strategy_path_adds_a_directory_of_strategies(tmp_path: Path) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "steady.py").write_text(STEADY, encoding="utf-8")
    config = _config(tmp_path, strategy="steady")

    missing = CliRunner().invoke(app, ["config", "check", "-c", str(config)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: experiments[0].strategy: ")

    found = CliRunner().invoke(
        app, ["config", "check", "-c", str(config), "--strategy-path", str(directory)]
    )
    assert found.exit_code == 0, found.stderr
    assert found.stdout.startswith(f"{config}: ok: exchange binanceusdm (1 symbols, poll 10s), ")

    listed = CliRunner().invoke(app, ["strategies", "--strategy-path", str(directory)])
    assert listed.exit_code == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in listed.stdout.splitlines()[2:]}
    assert rows["steady"] == ["steady:Steady", "4h"]


def test_strategy_path_that_is_not_a_directory_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["strategies", "--strategy-path", "nowhere"])
    assert result.exit_code == 2
    assert result.stderr == "error: --strategy-path nowhere: not a directory\n"


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_status_shows_every_holding_as_of_its_time_in_plain_text(tmp_path: Path) -> None:
    # The fixed report ledger (tests/reports/report_ledger.py): NAV rows up to 2024-01-02
    # 00:00, the token's up to 01:00.
    db = tmp_path / "fixed.db"
    with Store(db) as store:
        write_fixed_ledger(store)
    result = CliRunner().invoke(app, ["status", "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ltbot status ({db})"
    assert _cells(lines[1]) == ["portfolio", "as of (UTC)", "NAV", "return", "leverage", "holding"]
    # The token: 100 BTC-BULL units subscribed, / 10 at the reverse split (ftx's split ratio)
    # = 10 units; its value is NAV - cash = the exposure 399.725 x 110 (this ledger's NAV rows
    # take cash = NAV - exposure), so NAV/unit = 4,396.975 and its own leverage 1.00x; the
    # portfolio's: 43,969.75 / 11,604.30 = 3.79x; return 11,604.30 / 10,010 - 1 = +15.93 %.
    per_unit = f"{399.725 * 110 / 10:,.2f}"
    assert [_cells(line) for line in lines[2:7]] == [
        ["btc-hold/token:ftx", "2024-01-02 01:00", "11,604.30", "+15.93%", "3.79x",
         f"10 BTC-BULL units @ NAV/unit {per_unit}, +1.00x"],
        ["btc-hold/spot", "2024-01-02 00:00", "10,800.00", "+8.00%", "1.00x", "cash"],
        # Short 10 at 114, stop 134, liquidation 224.5 (cents: prices of 100 and more);
        # leverage: exposure -1,080 / NAV 9,656.03.
        ["btc-hold/perp:risk_pct=0.02", "2024-01-02 00:00", "9,656.03", "-3.44%", "-0.11x",
         "short 10 BTC/USDT:USDT @ 114.00, stop 134.00, liq. 224.50"],
        ["eth-trend/spot", "2024-01-02 00:00", "1,000.00", "+0.00%", "0.00x", "cash"],
        # Liquidated at 10:00: 97.90 left of 1,000.
        ["eth-trend/perp_static:leverage=3", "2024-01-02 00:00", "97.90", "-90.21%", "0.00x",
         "cash"],
    ]  # fmt: skip
    assert lines[7:] == ["no run recorded in this ledger"]
    assert "None" not in result.stdout
    assert "│" not in result.stdout and "━" not in result.stdout  # no box when piped


def test_config_show_of_the_example_is_a_config_that_checks_the_same(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    shown = CliRunner().invoke(app, ["config", "show", "-c", str(example)])
    assert shown.exit_code == 0, shown.stderr
    assert (
        'vehicles = ["token:binance_blvt", "token:ftx", "token:bybit", "perp:risk_pct=0.02", '
        '"perp:risk_pct=0.05", "perp_static:leverage=3", "spot"]'
    ) in shown.stdout.splitlines()
    copy = tmp_path / "shown.toml"
    copy.write_text(shown.stdout, encoding="utf-8")
    original = CliRunner().invoke(app, ["config", "check", "-c", str(example)])
    again = CliRunner().invoke(app, ["config", "check", "-c", str(copy)])
    assert again.exit_code == 0, again.stderr
    assert again.stdout.split(": ", 1)[1] == original.stdout.split(": ", 1)[1]
