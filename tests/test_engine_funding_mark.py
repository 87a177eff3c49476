"""Funding is paid on the mark price at the settlement time (MECHANICS §9), not the last trade.

Real engine and perp runner, hand-built replay-like updates: a step at `t` carries the bar that
closed at `t` and a quote stamped `t` whose mark is the mark candle closing at `t`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.ccxt.tiers import tiers_for
from bot.domain.perp import PerpParams
from bot.domain.sizing import default_rules
from bot.domain.values import Candle, FeeKind, FundingRate, Quote
from bot.engine.bars import BarAggregator
from bot.engine.engine import Engine, ExperimentSlot, StepOutput
from bot.engine.ports import MarketUpdate
from bot.portfolios.accounts import AccountRunner
from bot.strategy import History
from tests.test_engine import LongWithStop, accept_all  # always long, stop 10 below

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H1, H2, H3 = (T0 + timedelta(hours=h) for h in (1, 2, 3))
BTC = "BTC/USDT:USDT"
RATE = 0.0003


def engine() -> Engine:
    params = PerpParams(
        risk_pct=0.02, slippage_bps=0, taker_fee=0.0, fee_aware=False, max_leverage=100
    )
    runner = AccountRunner("x/perp", "x", BTC, 10_000.0, params, default_rules(BTC), tiers_for(BTC))
    slot = ExperimentSlot(
        "x", BTC, LongWithStop(), [runner], History(BTC, "1h"), BarAggregator(BTC, "1h")
    )
    return Engine([slot], accept_all)


def quote(at: datetime, last: float, mark: float | None) -> Quote:
    return Quote(BTC, at, last, mark)


def bar(start: datetime, o: float, h: float, lo: float, c: float) -> Candle:
    return Candle(BTC, "1h", start, o, h, lo, c, 1.0)


def long_20_at_1000(eng: Engine, mark: float | None) -> None:
    # the 00:00 bar closes at 01:00: long 20 at 1000, stop 990
    eng.step(MarketUpdate(T0, [quote(T0, 1000.0, mark)]))
    out = eng.step(MarketUpdate(H1, [quote(H1, 1000.0, mark)], [bar(T0, 1000, 1001, 999, 1000)]))
    [entry] = out.portfolios["x/perp"].records.fills
    assert (entry.side, entry.qty, entry.price) == ("buy", 20.0, 1000.0)


def funding_fee(out: StepOutput) -> float:
    [fee] = [f for f in out.portfolios["x/perp"].records.fees if f.kind is FeeKind.FUNDING]
    assert fee.at == H2
    return fee.amount


def test_a_settlement_at_the_step_time_pays_on_the_steps_mark_not_the_bars_close() -> None:
    # Arrange: long 20; the 01:00 bar closes at 1005 (last) while the mark candle closing at
    # 02:00 says 1008; the 02:00 settlement comes with that step
    eng = engine()
    long_20_at_1000(eng, mark=1000.0)
    update = MarketUpdate(
        H2,
        [quote(H2, 1005.0, 1008.0)],
        [bar(H1, 1000, 1006, 995, 1005)],
        [FundingRate(BTC, H2, RATE)],
    )

    # Act
    out = eng.step(update)

    # Assert: 20 x 1008 (mark) x 0.0003 = 6.048, not 20 x 1005 (last close) x 0.0003 = 6.03
    assert funding_fee(out) == pytest.approx(6.048, abs=1e-12)


def test_a_settlement_between_steps_pays_on_the_latest_mark_quote() -> None:
    # Arrange: long 20 with the mark at 1002; the daemon was down from 01:00 to 03:00 and
    # catches up with two walked bars (last 1005 at 02:00) and a quote at 03:00 (mark 1020)
    eng = engine()
    long_20_at_1000(eng, mark=1002.0)
    update = MarketUpdate(
        H3,
        [quote(H3, 1018.0, 1020.0)],
        [bar(H1, 1000, 1006, 995, 1005), bar(H2, 1005, 1019, 1004, 1018)],
        [FundingRate(BTC, H2, RATE)],
    )

    # Act
    out = eng.step(update)

    # Assert: no quote at 02:00, so the latest mark quote (01:00, 1002) serves, not the walked
    # bar's last 1005 nor the later 1020: 20 x 1002 x 0.0003 = 6.012
    assert funding_fee(out) == pytest.approx(6.012, abs=1e-12)


def test_without_any_mark_data_the_last_price_stands_in() -> None:
    # Arrange: a replay without mark candles (quotes carry no mark)
    eng = engine()
    long_20_at_1000(eng, mark=None)
    update = MarketUpdate(
        H2,
        [quote(H2, 1005.0, None)],
        [bar(H1, 1000, 1006, 995, 1005)],
        [FundingRate(BTC, H2, RATE)],
    )

    # Act
    out = eng.step(update)

    # Assert: the last price at or before 02:00, the bar's close: 20 x 1005 x 0.0003 = 6.03
    assert funding_fee(out) == pytest.approx(6.03, abs=1e-12)
