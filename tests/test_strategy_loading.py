"""Strategy loading through the real CLI (issue 17 point 7): a broken file only breaks the
experiments that use it and is named with its line, `module:Class` beside the config or in the
working directory without PYTHONPATH, `[strategies] paths` (file or LTBOT_STRATEGIES__PATHS),
the per-experiment `timeframe` and `Signal(stop_pct=...)` in a replay of the bundled sample."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "bot" / "data" / "sample"
LTBOT = Path(sys.executable).parent / "ltbot"  # the console script: no cwd on sys.path

GOOD = '''"""A user strategy: always long."""

from bot.strategy import Direction, Signal, Strategy, StrategyParams


class Mine(Strategy[StrategyParams]):
    name = "mine"

    def on_bar(self, history):
        return Signal(Direction.LONG, stop=history.close[-1] * 0.9)
'''
BROKEN = '"""A strategy with a syntax error on line 3."""\n\ndef on_bar(:\n    pass\n'
LONG_PCT = '''"""Long from the first bar, stop 4 % below the entry's fill."""

from bot.strategy import Direction, Signal, Strategy, StrategyParams


class LongPct(Strategy[StrategyParams]):
    name = "long_pct"
    timeframe = "1h"

    def on_bar(self, history):
        return Signal(Direction.LONG, stop_pct=0.04)
'''


def config(*strategies: str, extra: str = "", header: str = "") -> str:
    """A config with one BTC experiment per strategy (spot only: no leverage tiers needed)."""
    text = f'{header}\n[exchange]\nsymbols = ["BTC/USDT:USDT"]\n[store]\npath = "db/ltbot.db"\n'
    for i, strategy in enumerate(strategies):
        text += (
            f'[[experiments]]\nname = "e{i}"\nsymbol = "BTC/USDT:USDT"\n'
            f'strategy = "{strategy}"\nvehicles = ["spot"]\n{extra}\n'
        )
    return text


def ltbot(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, exe: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("LTBOT_")}
    clean.pop("PYTHONPATH", None)
    return subprocess.run(
        [*(exe or [sys.executable, "-m", "bot"]), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """tmp_path/mystrats with a good strategy file and a broken one."""
    directory = tmp_path / "mystrats"
    directory.mkdir()
    (directory / "good.py").write_text(GOOD, encoding="utf-8")
    (directory / "broken.py").write_text(BROKEN, encoding="utf-8")
    return directory


def test_a_broken_file_in_a_strategy_path_breaks_only_its_own_experiments(
    tmp_path: Path, user_dir: Path
) -> None:
    header = '[strategies]\npaths = ["mystrats"]'
    (tmp_path / "ok.toml").write_text(config("sma_cross", "mine", header=header), "utf-8")
    ok = ltbot(["config", "check", "--config", "ok.toml"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok.toml: ok: exchange binanceusdm (1 symbols")
    assert "2 experiments" in ok.stdout

    (tmp_path / "bad.toml").write_text(config("sma_cross", "broken", header=header), "utf-8")
    bad = ltbot(["config", "check", "--config", "bad.toml"], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == (
        "error: experiments[1].strategy: mystrats/broken.py, line 3: SyntaxError: invalid syntax\n"
    )

    (tmp_path / "typo.toml").write_text(config("mien", header=header), "utf-8")
    typo = ltbot(["config", "check", "--config", "typo.toml"], tmp_path)
    assert typo.returncode == 2
    assert typo.stderr == (
        "error: experiments[0].strategy: unknown strategy 'mien' (available: donchian_breakout, "
        "hold, mine, sma_cross); not loaded: mystrats/broken.py, line 3: SyntaxError: invalid "
        "syntax\n"
    )


def test_a_broken_file_in_the_strategies_package_breaks_only_its_own_experiments(
    tmp_path: Path,
) -> None:
    # The case: a file with a syntax error dropped into strategies/ (here a copy of the
    # shipped package, first on the path) used to break every command.
    shutil.copytree(REPO / "strategies", tmp_path / "strategies")
    (tmp_path / "strategies" / "broken.py").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "ok.toml").write_text(config("sma_cross", "hold"), "utf-8")
    env = {"PYTHONPATH": str(tmp_path)}
    ok = ltbot(["config", "check", "--config", "ok.toml"], tmp_path, env)
    assert ok.returncode == 0, ok.stderr
    listing = ltbot(["strategies"], tmp_path, {**env, "COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    assert "sma_cross" in listing.stdout
    assert listing.stderr.endswith(
        "WARNING strategy file skipped: strategies/broken.py, line 3: SyntaxError: invalid syntax\n"
    )
    (tmp_path / "bad.toml").write_text(config("hold", "broken"), "utf-8")
    bad = ltbot(["config", "check", "--config", "bad.toml"], tmp_path, env)
    assert (bad.returncode, bad.stderr) == (
        2,
        "error: experiments[1].strategy: strategies/broken.py, line 3: SyntaxError: invalid "
        "syntax\n",
    )


def test_a_module_that_fails_at_import_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "mystrats").mkdir()
    failing = "import math\n\nVALUE = 1 / 0\n"
    (tmp_path / "mystrats" / "zero.py").write_text(failing, encoding="utf-8")
    (tmp_path / "c.toml").write_text(config("mystrats.zero:Zero"), "utf-8")
    result = ltbot(["config", "check", "-c", "c.toml"], tmp_path, exe=[str(LTBOT)])
    assert (result.returncode, result.stderr) == (
        2,
        "error: experiments[0].strategy: mystrats/zero.py, line 3: ZeroDivisionError: "
        "division by zero\n",
    )


def test_module_class_is_found_beside_the_config_and_in_the_working_directory(
    tmp_path: Path, user_dir: Path
) -> None:
    # Beside the config, run from elsewhere: the console script puts no directory on sys.path.
    (tmp_path / "c.toml").write_text(config("mystrats.good:Mine"), "utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    beside = ltbot(["config", "check", "-c", str(tmp_path / "c.toml")], elsewhere, exe=[str(LTBOT)])
    assert beside.returncode == 0, beside.stderr
    # In the working directory, with the config somewhere else.
    (elsewhere / "c.toml").write_text(config("mystrats.good:Mine"), "utf-8")
    here = ltbot(["config", "check", "-c", str(elsewhere / "c.toml")], tmp_path, exe=[str(LTBOT)])
    assert here.returncode == 0, here.stderr
    # Nowhere: one line naming the places searched.
    missing = ltbot(["config", "check", "-c", "c.toml"], elsewhere, exe=[str(LTBOT)])
    assert (missing.returncode, missing.stderr) == (
        2,
        "error: experiments[0].strategy: cannot import strategy module 'mystrats.good': "
        f"not found (searched {elsewhere})\n",
    )


def test_strategy_paths_from_the_environment_as_json_or_a_comma_list(
    tmp_path: Path, user_dir: Path
) -> None:
    (tmp_path / "c.toml").write_text(config("mine"), "utf-8")
    other = tmp_path / "other"
    other.mkdir()
    for value in (f'["{user_dir}"]', f"{other},{user_dir}"):
        result = ltbot(
            ["config", "check", "-c", "c.toml"], tmp_path, {"LTBOT_STRATEGIES__PATHS": value}
        )
        assert result.returncode == 0, (value, result.stderr)
    without = ltbot(["config", "check", "-c", "c.toml"], tmp_path)
    assert without.returncode == 2
    assert without.stderr.startswith("error: experiments[0].strategy: unknown strategy 'mine'")


def test_a_strategy_path_that_is_no_directory_is_one_line(tmp_path: Path) -> None:
    header = '[strategies]\npaths = ["nowhere"]'
    (tmp_path / "c.toml").write_text(config("hold", header=header), "utf-8")
    result = ltbot(["config", "check", "-c", "c.toml"], tmp_path, exe=[str(LTBOT)])
    assert (result.returncode, result.stderr) == (
        2,
        f"error: strategies.paths[0]: no directory 'nowhere' (looked for {tmp_path / 'nowhere'})\n",
    )


def fills(db: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT at, side, price FROM fills ORDER BY rowid LIMIT 2").fetchall()
    return [(str(a), str(s), float(p)) for a, s, p in rows]


SMA = "params = { fast = 2, slow = 3, atr_period = 1 }"


@pytest.mark.parametrize(
    ("timeframe", "first_fill"),
    [
        # Warm-up max(slow 3, atr_period 1 + 1) = 3 bars: on 5m bars the first signal comes
        # when the 00:10 bar closes, at 00:15 (closes 61200.1, 61367.6, 61288.5: SMA(2)
        # 61328.05 > SMA(3) 61285.4, long); the buy fills at 61288.5 x (1 + 2 bp slippage).
        ('timeframe = "5m"', ("2024-03-01T00:15:00.000Z", "buy", 61288.5 * 1.0002)),
        # The class's own 1h: three hourly bars, first signal at 03:00.
        ("", ("2024-03-01T03:00:00.000Z",)),
    ],
)
def test_the_timeframe_key_runs_sma_cross_on_5m_bars(
    tmp_path: Path, timeframe: str, first_fill: tuple[object, ...]
) -> None:
    text = config("sma_cross", extra=f"{SMA}\n{timeframe}").replace(
        'vehicles = ["spot"]', 'vehicles = ["perp_static:leverage=1"]'
    )
    (tmp_path / "c.toml").write_text(text, "utf-8")
    args = ["replay", "--data", str(SAMPLE), "-c", "c.toml", "--db", "r.db", "--to", "2024-03-01"]
    result = ltbot(args, tmp_path)
    assert result.returncode == 0, result.stderr
    first = fills(tmp_path / "r.db")[0]
    assert first[: len(first_fill)] == pytest.approx(first_fill)


def test_an_unknown_timeframe_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(config("sma_cross", extra='timeframe = "5x"'), "utf-8")
    result = ltbot(["config", "check", "-c", "c.toml"], tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: experiments[0].timeframe: unknown timeframe '5x' (expected e.g. 1m, 5m, 1h, "
        "4h, 1d)\n",
    )


# "next_open": the signal of the 00:00 bar waits for the 01:00 bar's open, 61575.3 too.
@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_stop_pct_sets_the_stop_from_the_fill_and_risk_sizing_uses_it(
    tmp_path: Path, fill: str
) -> None:
    (tmp_path / "mystrats").mkdir()
    (tmp_path / "mystrats" / "long_pct.py").write_text(LONG_PCT, encoding="utf-8")
    vehicle = "perp:risk_pct=0.02,slippage_bps=0,taker_fee=0,fee_aware=false"
    header = '[strategies]\npaths = ["mystrats"]'
    text = config("long_pct", header=header, extra=f'fill = "{fill}"').replace(
        '"spot"', f'"{vehicle}"'
    )
    (tmp_path / "c.toml").write_text(text, "utf-8")
    args = ["replay", "--data", str(SAMPLE), "-c", "c.toml", "--db", "r.db", "--to", "2024-03-01"]
    result = ltbot(args, tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "r.db") as conn:
        row = conn.execute(
            "SELECT opened_at, entry, stop, qty, intended_risk FROM positions ORDER BY rowid"
        ).fetchone()
    # The first 1h bar closes at 01:00 at 61575.3 (the 00:55 5m close); no slippage, so the
    # fill is 61575.3 and the stop 61575.3 x 0.96 = 59112.288. MECHANICS §10, plain sizing:
    # risk 10,000 x 2 % = 200 USDT, qty 200 / (61575.3 - 59112.288) = 0.0812 -> 0.081 (lot).
    assert row[0] == "2024-03-01T01:00:00.000Z", row
    assert row[1:] == pytest.approx((61575.3, 59112.288, 0.081, 200.0))
