"""`fill = "next_open"`: a signal fills at the open of the next bar (freqtrade's convention).

Real engine and perp runner over hand-built replay steps (a step at `t` carries the 1h bar that
closed at `t` and a quote at its close); prices chosen so every fill can be worked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.ccxt.tiers import tiers_for
from bot.config.settings import ConfigError, load_settings
from bot.domain.perp import PerpParams
from bot.domain.records import FillRecord
from bot.domain.sizing import default_rules
from bot.domain.values import Candle, Quote
from bot.engine.bars import BarAggregator
from bot.engine.engine import Engine, ExperimentSlot, StepOutput
from bot.engine.ports import MarketUpdate
from bot.portfolios.accounts import AccountRunner
from bot.runtime.state_codec import dump_resume_state, load_resume_state
from bot.runtime.wiring import build_engine
from bot.strategy import Direction, History, HistoryView, Signal, Strategy, StrategyParams

T0 = datetime(2024, 3, 1, tzinfo=UTC)
BTC = "BTC/USDT:USDT"
PID = "x/perp"


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


class Scripted(Strategy[StrategyParams]):
    """Long (stop 990) on the 00:00 bar, flat on the 02:00 bar, nothing otherwise."""

    name = "scripted"
    timeframe = "1h"

    def on_bar(self, history: HistoryView) -> Signal | None:
        if history.at == hour(0):
            return Signal(Direction.LONG, stop=990.0)
        if history.at == hour(2):
            return Signal.flat()
        return None


def accept_all(
    quotes: Sequence[Quote], at: datetime, candles: Sequence[Candle] = ()
) -> tuple[list[Quote], list[tuple[str, str]]]:
    return list(quotes), []


def engine(next_open: bool = True, slippage_bps: float = 10.0) -> Engine:
    params = PerpParams(
        risk_pct=0.02, slippage_bps=slippage_bps, taker_fee=0.0, fee_aware=False, max_leverage=100
    )
    runner = AccountRunner(PID, "x", BTC, 10_000.0, params, default_rules(BTC), tiers_for(BTC))
    slot = ExperimentSlot(
        "x",
        BTC,
        Scripted(),
        [runner],
        History(BTC, "1h"),
        BarAggregator(BTC, "1h"),
        next_open=next_open,
    )
    return Engine([slot], accept_all)


def bar_step(start: float, o: float, h: float, lo: float, c: float) -> MarketUpdate:
    """The replay step at the close of the 1h bar opening at hour `start`."""
    close_at = hour(start + 1)
    candle = Candle(BTC, "1h", hour(start), o, h, lo, c, 1.0)
    return MarketUpdate(close_at, [Quote(BTC, close_at, c, c)], [candle])


FIRST = MarketUpdate(T0, [Quote(BTC, T0, 1000.0, 1000.0)])
BARS = [
    bar_step(0, 1000, 1005, 995, 1000),  # signal: long, stop 990
    bar_step(1, 1010, 1020, 1005, 1015),  # the long fills at this bar's open, 1010
    bar_step(2, 1015, 1030, 1012, 1025),  # signal: flat
    bar_step(3, 1030, 1035, 1028, 1032),  # the exit fills at this bar's open, 1030
]


def fills(out: StepOutput) -> list[FillRecord]:
    return out.portfolios[PID].records.fills if PID in out.portfolios else []


def test_entry_and_signal_exit_fill_at_the_next_bars_open_and_time() -> None:
    # Arrange
    eng = engine()
    eng.step(FIRST)

    # Act
    outputs = [eng.step(update) for update in BARS]

    # Assert: nothing fills when the signal's bar closes
    assert fills(outputs[0]) == [] and fills(outputs[2]) == []
    # the long fills at the 01:00 bar's open 1010 plus 10 bps of slippage = 1011.01, stamped
    # 01:00; risk 2 % of 10,000 = 200 over |1010 - 990| = 20 -> 10 BTC
    [entry] = fills(outputs[1])
    assert (entry.at, entry.side, entry.qty, entry.reason.value) == (hour(1), "buy", 10.0, "entry")
    assert entry.price == pytest.approx(1010 * 1.001, abs=1e-9)
    # the flat signal of the 02:00 bar sells at the 03:00 bar's open 1030 less 10 bps = 1028.97
    [exit_] = fills(outputs[3])
    assert (exit_.at, exit_.side, exit_.qty, exit_.reason.value) == (hour(3), "sell", 10.0, "exit")
    assert exit_.price == pytest.approx(1030 * 0.999, abs=1e-9)


def test_without_the_option_the_same_signals_fill_at_their_bars_close() -> None:
    eng = engine(next_open=False)
    eng.step(FIRST)
    outputs = [eng.step(update) for update in BARS]
    [entry], [exit_] = fills(outputs[0]), fills(outputs[2])
    assert (entry.at, entry.price) == (hour(1), pytest.approx(1000 * 1.001, abs=1e-9))
    assert (exit_.at, exit_.price) == (hour(3), pytest.approx(1025 * 0.999, abs=1e-9))


def test_the_new_positions_stop_is_checked_along_the_bar_it_opened_in() -> None:
    # Arrange: the long of the 00:00 bar; the next bar opens 1010 and dips to 985
    eng = engine(slippage_bps=0)
    eng.step(FIRST)
    eng.step(BARS[0])

    # Act
    out = eng.step(bar_step(1, 1010, 1012, 985, 1001))

    # Assert: in at 1010 (200 / 20 = 10 BTC), out at the 990 stop inside that very bar (open
    # -> low 985 crosses 990), both stamped 01:00: a loss of 10 x 20 = 200
    entry, stop = fills(out)
    assert (entry.reason.value, entry.at, entry.price, entry.qty) == ("entry", hour(1), 1010, 10)
    assert (stop.reason.value, stop.at, stop.price, stop.qty) == ("stop", hour(1), 990.0, 10)
    [closed] = [p for p in out.portfolios[PID].records.positions if p.closed_at is not None]
    assert closed.pnl == pytest.approx(-200.0)


def test_without_a_new_candle_the_next_steps_quote_fills_it() -> None:
    # Arrange: live-like, the candle came with a poll and the next poll brings only a quote
    eng = engine(slippage_bps=0)
    eng.step(FIRST)
    eng.step(BARS[0])
    at = hour(1) + timedelta(seconds=15)

    # Act
    out = eng.step(MarketUpdate(at, [Quote(BTC, at, 1010.0, 1010.0)]))

    # Assert: at that quote's last price and time
    [entry] = fills(out)
    assert (entry.at, entry.price, entry.qty) == (at, 1010.0, 10.0)


def test_a_step_without_a_price_keeps_the_signal_pending() -> None:
    # Arrange: the long is pending; a poll brings no BTC price
    eng = engine(slippage_bps=0)
    eng.step(FIRST)
    eng.step(BARS[0])
    empty = eng.step(MarketUpdate(hour(1) + timedelta(seconds=15)))
    at = hour(1) + timedelta(seconds=30)

    # Act
    out = eng.step(MarketUpdate(at, [Quote(BTC, at, 1010.0, 1010.0)]))

    # Assert: it waited for the next price
    assert fills(empty) == []
    [entry] = fills(out)
    assert (entry.at, entry.price) == (at, 1010.0)


def test_a_pending_signal_survives_a_resume() -> None:
    # Arrange: the 00:00 bar closed, its long is pending; the state goes through the codec
    # as the session stores it
    first = engine()
    first.step(FIRST)
    first.step(BARS[0])
    saved = first.state()
    assert saved["pending_signals"] == {"x": Signal(Direction.LONG, stop=990.0)}
    second = engine()

    # Act
    second.restore(load_resume_state(dump_resume_state(saved)))

    # Assert: the same state, and both fill the long at the next open
    assert second.state() == saved
    outputs = [e.step(BARS[1]) for e in (first, second)]
    assert outputs[0] == outputs[1]
    [entry] = fills(outputs[1])
    assert (entry.at, entry.price) == (hour(1), pytest.approx(1010 * 1.001, abs=1e-9))
    assert second.state()["pending_signals"] == {}


def test_an_engine_without_the_option_keeps_its_state_as_before() -> None:
    eng = engine(next_open=False)
    eng.step(FIRST)
    eng.step(BARS[0])
    assert "pending_signals" not in eng.state()


CONFIG = """
[exchange]
symbols = ["BTC/USDT:USDT"]

[[experiments]]
name = "a"
symbol = "BTC/USDT:USDT"
strategy = "hold"
vehicles = ["spot"]
fill = {fill}

[[experiments]]
name = "b"
symbol = "BTC/USDT:USDT"
strategy = "hold"
vehicles = ["spot"]
"""


def test_the_fill_key_reaches_the_engine_per_experiment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(fill='"next_open"'), encoding="utf-8")
    settings = load_settings(path)
    assert [e.fill for e in settings.experiments] == ["next_open", "close"]
    eng = build_engine(settings, live=False)
    assert [slot.next_open for slot in eng.experiments] == [True, False]


@pytest.mark.parametrize("value", ['"open"', '"Next_Open"', "1"])
def test_an_unknown_fill_is_a_config_error_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(fill=value), encoding="utf-8")
    with pytest.raises(ConfigError, match=r'^experiments\[0\]\.fill: expected "close" or '):
        load_settings(path)
