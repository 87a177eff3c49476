"""The engine step: DESIGN.md order, with real vehicles and hand-built market updates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.ccxt.tiers import tiers_for
from bot.domain.perp import PerpParams
from bot.domain.sizing import default_rules
from bot.domain.spot import SpotParams
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.bars import BarAggregator
from bot.engine.engine import Engine, ExperimentSlot
from bot.engine.ports import MarketUpdate
from bot.portfolios.accounts import AccountRunner
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams

T0 = datetime(2024, 3, 1, tzinfo=UTC)
BTC = "BTC/USDT:USDT"


class LongWithStop(Strategy[StrategyParams]):
    """Always long, stop 10 below the close (hand-checkable)."""

    name = "long_with_stop"
    timeframe = "1h"

    def on_bar(self, history: HistoryView) -> Signal | None:
        return Signal(Direction.LONG, stop=history.close[-1] - 10)


def accept_all(
    quotes: Sequence[Quote], at: datetime, candles: Sequence[Candle] = ()
) -> tuple[list[Quote], list[tuple[str, str]]]:
    return list(quotes), []


def perp_runner(pid: str = "x/perp") -> AccountRunner:
    params = PerpParams(
        risk_pct=0.02, slippage_bps=0, taker_fee=0.0, fee_aware=False, max_leverage=100
    )
    return AccountRunner(pid, "x", BTC, 10_000.0, params, default_rules(BTC), tiers_for(BTC))


def engine_with(*runners: AccountRunner) -> Engine:
    slot = ExperimentSlot(
        "x", BTC, LongWithStop(), list(runners), _history(), BarAggregator(BTC, "1h")
    )
    return Engine([slot], accept_all)


def _history():  # type: ignore[no-untyped-def]
    from bot.strategy import History

    return History(BTC, "1h")


def quote(
    at: datetime, last: float, rate: float | None = None, next_funding: datetime | None = None
) -> Quote:
    return Quote(BTC, at, last, mark=last, funding_rate=rate, next_funding_at=next_funding)


def hour_bar(start: datetime, o: float, h: float, lo: float, c: float) -> Candle:
    return Candle(BTC, "1h", start, o, h, lo, c, 1.0)


def test_signal_on_a_closed_bar_enters_at_the_step_price() -> None:
    runner = perp_runner()
    engine = engine_with(runner)
    engine.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    # the 00:00-01:00 bar closes: long with stop 1000 - 10 = 990; risk 2 % of 10,000 = 200
    # -> qty = 200 / |1000 - 990| = 20 (no fees, no slippage), entered at the quote 1000
    out = engine.step(
        MarketUpdate(
            T0 + timedelta(hours=1),
            [quote(T0 + timedelta(hours=1), 1000.0)],
            [hour_bar(T0, 1000, 1001, 999, 1000)],
        )
    )
    records, navs = out.portfolios["x/perp"]
    [fill] = records.fills
    assert (fill.side, fill.qty, fill.price, fill.reason.value) == ("buy", 20.0, 1000.0, "entry")
    assert navs[0].nav == 10_000.0 and navs[0].exposure == 20_000.0


def test_funding_settles_at_its_time_with_the_settled_rate() -> None:
    runner = perp_runner()
    engine = engine_with(runner)
    t1 = T0 + timedelta(hours=1)
    engine.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    engine.step(
        MarketUpdate(
            t1,
            [quote(t1, 1000.0, 0.0001, T0 + timedelta(hours=8))],
            [hour_bar(T0, 1000, 1000, 1000, 1000)],
        )
    )
    # price 1010 just before the settlement, 1100 at the next step (09:00)
    t7 = T0 + timedelta(hours=7, minutes=59)
    engine.step(MarketUpdate(t7, [quote(t7, 1010.0, 0.0001, T0 + timedelta(hours=8))]))
    t9 = T0 + timedelta(hours=9)
    out = engine.step(
        MarketUpdate(
            t9, [quote(t9, 1100.0)], [], [FundingRate(BTC, T0 + timedelta(hours=8), 0.0003)]
        )
    )
    records, _ = out.portfolios["x/perp"]
    [funding] = [f for f in records.fees if f.kind.value == "funding"]
    # settled rate 0.0003 (not the predicted 0.0001) x mark 1010 (latest at or before 08:00)
    # x qty 20 = 6.06 paid by the long
    assert funding.at == T0 + timedelta(hours=8)
    assert funding.amount == pytest.approx(6.06)


def test_a_walked_bar_stops_the_position_inside_the_bar() -> None:
    runner = perp_runner()
    engine = engine_with(runner)
    t1 = T0 + timedelta(hours=1)
    engine.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    engine.step(MarketUpdate(t1, [quote(t1, 1000.0)], [hour_bar(T0, 1000, 1000, 1000, 1000)]))
    # the next bar opens 1000, dips to 985 (through the 990 stop) and closes 1005: the path
    # open -> low -> high -> close stops at 990 mid-bar (no gap), losing 20 x 10 = 200
    t2 = T0 + timedelta(hours=2)
    five = [Candle(BTC, "5m", t1, 1000, 1006, 985, 1005, 1.0)]
    out = engine.step(MarketUpdate(t2, [quote(t2, 1005.0)], five))
    records, _ = out.portfolios["x/perp"]
    stop = [f for f in records.fills if f.reason.value == "stop"]
    assert [(f.side, f.qty, f.price) for f in stop] == [("sell", 20.0, 990.0)]
    [closed] = [p for p in records.positions if p.closed_at is not None]
    assert closed.pnl == pytest.approx(-200.0)


def test_nav_rows_hourly_and_at_events_only() -> None:
    params = SpotParams(taker_fee=0.0, slippage_bps=0)
    spot = AccountRunner("x/spot", "x", BTC, 1000.0, params, default_rules(BTC), ())
    engine = engine_with(spot)  # type: ignore[arg-type]
    written = []
    for minutes in range(0, 180, 15):
        at = T0 + timedelta(minutes=minutes)
        out = engine.step(MarketUpdate(at, [quote(at, 100.0)]))
        written += [n.at for _, navs in out.portfolios.values() for n in navs]
    assert written == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]


def test_a_strategy_that_raises_costs_its_signal_only() -> None:
    class Broken(LongWithStop):
        name = "broken"

        def on_bar(self, history: HistoryView) -> Signal | None:
            raise ZeroDivisionError("oops")

    broken_runner, good_runner = perp_runner("b/perp"), perp_runner("g/perp")
    slots = [
        ExperimentSlot("b", BTC, Broken(), [broken_runner], _history(), BarAggregator(BTC, "1h")),
        ExperimentSlot(
            "g", BTC, LongWithStop(), [good_runner], _history(), BarAggregator(BTC, "1h")
        ),
    ]
    engine = Engine(slots, accept_all)
    t1 = T0 + timedelta(hours=1)
    engine.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    out = engine.step(MarketUpdate(t1, [quote(t1, 1000.0)], [hour_bar(T0, 1000, 1000, 1000, 1000)]))
    assert slots[0].health.errors == 1
    assert out.portfolios["g/perp"][0].fills and not out.portfolios["b/perp"][0].fills


def test_quotes_are_stamped_with_the_step_time() -> None:
    engine = engine_with(perp_runner())
    at = T0 + timedelta(seconds=15)
    out = engine.step(MarketUpdate(at, [quote(T0 + timedelta(seconds=14, milliseconds=3), 1.0)]))
    assert [q.at for q in out.quotes] == [at]


def test_a_stale_aggregated_bar_after_exact_bars_is_skipped_not_fatal() -> None:
    # 5m candles fold into a partial 00:00 bar; the exchange's own 00:00 bar then comes as a
    # 1h candle (exact bars win, the partial is left behind); much later only 5m candles
    # arrive again: the stale partial 00:00 bar is older than the history and is skipped.
    engine = engine_with(perp_runner())
    five = [
        Candle(BTC, "5m", T0 + timedelta(minutes=5 * i), 100, 101, 99, 100, 1.0) for i in (0, 1)
    ]
    engine.step(
        MarketUpdate(T0 + timedelta(minutes=10), [quote(T0 + timedelta(minutes=10), 100.0)], five)
    )
    hour = T0 + timedelta(hours=1)
    engine.step(MarketUpdate(hour, [quote(hour, 100.0)], [hour_bar(T0, 100, 102, 98, 100)]))
    late = T0 + timedelta(hours=5)
    bars = [
        Candle(BTC, "5m", late + timedelta(minutes=5 * i), 100, 101, 99, 100, 1.0)
        for i in range(12)
    ]
    engine.step(
        MarketUpdate(late + timedelta(hours=1), [quote(late + timedelta(hours=1), 100.0)], bars)
    )
    history = engine.experiments[0].history
    assert [at.hour for at in history._at] == [0, 5]  # the exact 00:00 bar, then 05:00 from 5m
    assert history.view().high[0] == 102  # the exchange's bar, not the partial one


def test_a_restored_engine_goes_on_exactly_like_the_one_it_was_saved_from() -> None:
    first, second = engine_with(perp_runner()), engine_with(perp_runner())
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    first.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    first.step(MarketUpdate(t1, [quote(t1, 1000.0)], [hour_bar(T0, 1000, 1001, 999, 1000)]))
    saved = first.state()
    assert set(saved) == {"last_at", "last_quotes", "last_nav_at", "applied_funding", "runners"}
    second.restore(saved)
    assert second.state() == saved and second.last_at == t1
    assert second.last_quotes == {BTC: quote(t1, 1000.0)}
    # in both: the stop at 990 fills inside the next bar, then its close enters again
    bar = hour_bar(t1, 1000, 1002, 985, 995)
    outputs = [e.step(MarketUpdate(t2, [quote(t2, 995.0)], [bar])) for e in (first, second)]
    assert outputs[0] == outputs[1]
    stop, entry = outputs[0].portfolios["x/perp"][0].fills
    assert (stop.reason.value, stop.price, entry.reason.value) == ("stop", 990.0, "entry")


def test_last_quotes_are_read_only_outside_the_engine() -> None:
    engine = engine_with(perp_runner())
    engine.step(MarketUpdate(T0, [quote(T0, 1000.0)]))
    with pytest.raises(TypeError):
        engine.last_quotes[BTC] = quote(T0, 1.0)  # type: ignore[index]
    assert engine.last_quotes[BTC].last == 1000.0


def test_replay_history_refills_a_strategy_history_and_shows_it_every_bar() -> None:
    engine = engine_with(perp_runner())
    bars = [hour_bar(T0 + timedelta(hours=i), 1000, 1001, 999, 1000 + i) for i in range(3)]
    engine.replay_history("x", bars)
    [slot] = engine.experiments
    assert len(slot.history) == 3 and slot.history.last_at == T0 + timedelta(hours=2)
    assert slot.health.errors == 0
    with pytest.raises(ValueError, match="no experiment named 'y'"):
        engine.replay_history("y", bars)
