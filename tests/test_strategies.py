"""Strategy plug-ins: loading, parameter validation, read-only history, shipped signals."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.strategy_loader import StrategyLoadError, build, discover, resolve
from bot.engine.strategy_guard import StrategyHealth, safe_signal, signal_problem
from bot.strategy import Direction, History, HistoryView, Signal, Strategy, StrategyParams
from strategies.donchian_breakout import DonchianBreakout
from strategies.hold import Hold
from strategies.indicators import atr
from strategies.sma_cross import SmaCross

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def history_of(closes: list[float], spread: float = 0.0) -> History:
    """Bars with open = previous close, high/low = max/min(open, close) +/- spread."""
    history = History("BTC/USDT:USDT", "1h")
    previous = closes[0]
    for i, close in enumerate(closes):
        high, low = max(previous, close) + spread, min(previous, close) - spread
        history.append(T0 + timedelta(hours=i), previous, high, low, close, 1.0)
        previous = close
    return history


def test_shipped_strategies_are_discovered_by_short_name() -> None:
    found = discover()
    assert {"hold", "sma_cross", "donchian_breakout"} <= set(found)
    assert found["sma_cross"] is SmaCross


def test_module_class_path_resolves() -> None:
    assert resolve("strategies.donchian_breakout:DonchianBreakout") is DonchianBreakout


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown strategy 'nope' (available: "),
        ("sma_cross", {"fats": 3}, "strategy 'sma_cross': params.fats: unknown parameter"),
        ("sma_cross", {"fast": 60, "slow": 50}, "fast (60) must be below slow (50)"),
        ("no.such.module:X", {}, "cannot import strategy module 'no.such.module'"),
        ("strategies.hold:HoldParams", {}, "'strategies.hold:HoldParams' is not a Strategy"),
    ],
)
def test_bad_strategy_config_is_a_clear_error(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(StrategyLoadError) as info:
        build(name, params)
    assert message in str(info.value)


def test_entry_point_plugins_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_plugin.py").write_text(
        "from bot.strategy import Signal, Strategy\n"
        "class Always(Strategy):\n"
        "    name = 'always_flat'\n"
        "    def on_bar(self, history):\n"
        "        return Signal.flat()\n",
        encoding="utf-8",
    )
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ltbot.strategies]\nalways_flat = my_plugin:Always\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve("always_flat").__name__ == "Always"
    sys.modules.pop("my_plugin", None)


def test_history_view_cannot_see_later_bars() -> None:
    history = history_of([1.0, 2.0, 3.0])
    view = history.view()
    history.append(T0 + timedelta(hours=3), 3.0, 9.0, 3.0, 9.0, 1.0)
    assert len(view) == 3 and view.close[-1] == 3.0 and list(view.close) == [1.0, 2.0, 3.0]
    with pytest.raises(IndexError):
        view.close[3]
    assert view.close[-2:] == (2.0, 3.0)
    assert len(history.view()) == 4


def test_history_view_slices_stop_at_the_visible_length() -> None:
    history = history_of([1.0, 2.0, 3.0, 4.0])
    view = history.view()
    history.append(T0 + timedelta(hours=4), 5.0, 5.0, 5.0, 5.0, 1.0)
    close = view.close
    assert close[1:] == (2.0, 3.0, 4.0)
    assert close[:] == (1.0, 2.0, 3.0, 4.0)
    assert close[-10:] == (1.0, 2.0, 3.0, 4.0)
    assert close[::-2] == (4.0, 2.0)
    assert close[1:99] == (2.0, 3.0, 4.0)


def test_atr_hand_worked() -> None:
    high, low = [10.0, 12.0, 11.0, 15.0], [8.0, 9.0, 7.0, 12.0]
    close = [9.0, 11.0, 8.0, 14.0]
    # true ranges: bar 1 max(3, 3, 0) = 3; bar 2 max(4, 0, 4) = 4; bar 3 max(3, 7, 4) = 7
    assert atr(high, low, close, 3) == (3.0 + 4.0 + 7.0) / 3
    # the window reaches the first bar: its range is its own high - low (2)
    assert atr(high, low, close, 4) == (2.0 + 3.0 + 4.0 + 7.0) / 4
    view = history_of(close).view()
    assert atr(view.high, view.low, view.close, 2) == atr(
        list(view.high), list(view.low), list(view.close), 2
    )


def test_history_rejects_bars_out_of_order() -> None:
    history = history_of([1.0, 2.0])
    with pytest.raises(ValueError, match="is not after"):
        history.append(T0, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_hold_long_and_short_stops() -> None:
    view = history_of([100.0]).view()
    assert Hold(direction="long", stop_pct=0.05).on_bar(view) == Signal(Direction.LONG, stop=95.0)
    short = Hold(direction="short", stop_pct=0.1).on_bar(view)
    assert short == Signal(Direction.SHORT, stop=pytest.approx(110.0))


def test_sma_cross_hand_worked() -> None:
    # closes 10, 11, 12, 13: fast SMA(2) = 12.5 > slow SMA(3) = 12 -> long.
    # true ranges of the last 2 bars (spread 0): bar 2 = 12-11 = 1, bar 3 = 13-12 = 1 -> ATR 1;
    # stop = 13 - 2 x 1 = 11.
    strategy = SmaCross(fast=2, slow=3, atr_period=2, atr_mult=2.0)
    assert strategy.on_bar(history_of([10.0, 11.0, 12.0, 13.0]).view()) == Signal(
        Direction.LONG, stop=11.0
    )
    # falling: 13, 12, 11, 10: fast 10.5 < slow 11 -> short, stop 10 + 2 = 12
    assert strategy.on_bar(history_of([13.0, 12.0, 11.0, 10.0]).view()) == Signal(
        Direction.SHORT, stop=12.0
    )
    no_short = SmaCross(fast=2, slow=3, atr_period=2, allow_short=False)
    assert no_short.on_bar(history_of([13.0, 12.0, 11.0, 10.0]).view()) == Signal.flat()


def test_sma_cross_waits_for_warmup() -> None:
    assert SmaCross(fast=2, slow=5).on_bar(history_of([1.0, 2.0, 3.0]).view()) is None


def test_donchian_breakout_enters_and_exits() -> None:
    strategy = DonchianBreakout(entry=3, exit=2, atr_period=1, atr_mult=1.0, stop="channel")
    history = history_of([10.0, 10.0, 10.0, 10.0])
    assert strategy.on_bar(history.view()) == Signal.flat()
    # close 12 breaks the 3-bar high (10): long; exit channel low of bars 2..3 = 10 -> stop 10
    history.append(T0 + timedelta(hours=4), 10.0, 12.0, 10.0, 12.0, 1.0)
    assert strategy.on_bar(history.view()) == Signal(Direction.LONG, stop=10.0)
    # close 9.5 breaks the 2-bar exit low (10) but not the 3-bar entry low (10 > 9.5 -> short!)
    history.append(T0 + timedelta(hours=5), 12.0, 12.0, 9.5, 9.5, 1.0)
    signal = strategy.on_bar(history.view())
    assert signal is not None and signal.direction is Direction.SHORT
    assert signal.stop == 12.0  # the exit channel's high (bars 3..4)


def test_safe_signal_isolates_exceptions_and_garbage() -> None:

    class Boom(Strategy[StrategyParams]):
        name = "boom"

        def on_bar(self, history: HistoryView) -> Signal | None:
            raise RuntimeError("kaboom")

    class Garbage(Strategy[StrategyParams]):
        name = "garbage"

        def on_bar(self, history: HistoryView) -> Signal | None:
            return "buy!"  # type: ignore[return-value]

    health = StrategyHealth()
    view = history_of([1.0]).view()
    assert safe_signal(Boom(), view, health, "btc-test") is None
    assert safe_signal(Garbage(), view, health, "btc-test") is None
    assert (health.errors, health.bad_signals) == (1, 1)


def test_strategies_command_lists_parameters() -> None:
    from typer.testing import CliRunner

    from bot.cli.main import app

    result = CliRunner().invoke(app, ["strategies"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("sma_cross", "donchian_breakout", "hold", "fast = 20", "stop_pct = 0.05"):
        assert text in result.output


# -- issue 17 point 7: lazy loading, strategy paths, timeframe override, stop_pct -------------

BROKEN = "x = 1\n\ndef on_bar(:\n"
TREND = (
    "from bot.strategy import Signal, Strategy, StrategyParams\n"
    "class Trend(Strategy[StrategyParams]):\n"
    "    name = 'trend_{tag}'\n"
    "    def on_bar(self, history):\n"
    "        return Signal.flat()\n"
)


def strategy_dir(tmp_path: Path, tag: str, **files: str) -> Path:
    """A strategy directory with a `trend_<tag>` strategy in `t_<tag>.py` and extra files
    (module names are unique per test: loaded modules stay in sys.modules)."""
    directory = tmp_path / "strats"
    directory.mkdir()
    (directory / f"t_{tag}.py").write_text(TREND.format(tag=tag), encoding="utf-8")
    for stem, text in files.items():
        (directory / f"{stem}.py").write_text(text, encoding="utf-8")
    return directory


def test_a_broken_file_is_skipped_until_it_is_the_one_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [strategy_dir(tmp_path, "a", broken_a=BROKEN)]
    assert resolve("trend_a", paths).__name__ == "Trend"
    assert "trend_a" in discover(paths) and "sma_cross" in discover(paths)
    with pytest.raises(StrategyLoadError) as info:
        resolve("broken_a", paths)
    assert str(info.value) == "strats/broken_a.py, line 3: SyntaxError: invalid syntax"


def test_a_strategy_file_may_not_shadow_a_loaded_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [strategy_dir(tmp_path, "b", json="X = 1\n")]
    assert resolve("trend_b", paths).__name__ == "Trend"  # json.py fails, t_b.py loads
    with pytest.raises(StrategyLoadError, match=r"^strats/json.py: module name 'json' is taken"):
        resolve("json", paths)


def test_the_timeframe_override_is_per_instance() -> None:
    five = build("sma_cross", {"fast": 2, "slow": 3}, timeframe="5m")
    assert (five.timeframe, SmaCross.timeframe) == ("5m", "1h")
    assert build("sma_cross", {}).timeframe == "1h"


@pytest.mark.parametrize(
    ("signal", "problem"),
    [
        (Signal(Direction.LONG, stop_pct=0.04), None),
        (Signal(Direction.LONG, stop_pct=0.0), "stop_pct 0.0 is not a fraction > 0 and < 1"),
        (Signal(Direction.LONG, stop_pct=1.0), "stop_pct 1.0 is not a fraction > 0 and < 1"),
        (Signal(Direction.LONG, stop_pct="4%"), "stop_pct '4%' is not a number"),  # type: ignore[arg-type]
        (Signal(Direction.LONG, 90.0, stop_pct=0.04), "both stop and stop_pct are set (give one)"),
    ],
)
def test_stop_pct_is_checked_like_a_stop(signal: Signal, problem: str | None) -> None:
    assert signal_problem(signal) == problem
