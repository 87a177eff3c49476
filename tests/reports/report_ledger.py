"""The fixed ledger of the report tests, written through the real Store API.

Day under test: 2024-01-01 (UTC). Two experiments, hand-computable numbers:

btc-hold (BTC/USDT:USDT; price 100 until 12:00, 120 from 12:00, 114 from 20:00, 108 at 24:00)
- token:ftx (3x, capital 10010): subscribed on Dec 31 23:00 (fee 10, outside the day), NAV 10000
  at 00:00 holding q = 300 BTC of exposure per 10000 (3 x 10000 / 100).
  08:00 funding paid 3 -> 9997.  12:00 price 120: 9997 + 300 * 20 = 15997, rebalance to 3x
  (trading 6 + slippage 2) -> 15989, q = 3 * 15989 / 120 = 399.725.  16:00 funding received 1.5
  -> 15990.5.  18:00 reverse split (NAV unchanged).  20:00 price 114:
  15990.5 - 399.725 * 6 = 13592.15, management fee 4 -> 13588.15.
  24:00 price 108: 13588.15 - 399.725 * 6 = 11189.8.
- perp:risk_pct=0.02 (capital 10000): 01:00 short 20 @ 100 stop 110 (2 % risk: 200 / 10);
  trading 1.0 + slippage 0.5 -> 9998.5.  08:00 funding received 0.2 -> 9998.7.  12:00 the price
  gaps to 120 through the stop: filled at 120, -400, trading 1.2 + slippage 0.6 -> 9596.9.
  20:00 short 10 @ 114 stop 134; trading 0.57 + slippage 0.3 -> 9596.03.  24:00 at 108:
  +10 * 6 -> 9656.03 (position still open).
- spot (capital 10000): 100 BTC, NAV = 100 x price: 10000, 12000, 11400, 10800.

eth-trend (ETH/USDT:USDT; 2000 at 00:00, 1400 at 10:00, 1500 at 24:00)
- perp_static:leverage=3 (capital 1000): 1.5 ETH long; liquidated at 10:00 at 1400:
  1000 - 1.5 * 600 - 2.1 fee = 97.9.
- spot (capital 1000): flat all day (short signal), NAV 1000.

Rows outside the day (Dec 31 23:00, Jan 2 01:00) must not count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.config.vehicles import parse_vehicle
from bot.domain.records import FeeRecord, FillRecord, NavRecord, PositionRecord, TokenEventRecord
from bot.domain.values import FeeKind, FillReason, TokenEventKind
from bot.engine.ports import PortfolioRow, PortfolioStep, StepBatch
from bot.runtime.wiring import vehicle_params

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
TOKEN = "btc-hold/token:ftx"
PERP = "btc-hold/perp:risk_pct=0.02"
SPOT = "btc-hold/spot"
STATIC = "eth-trend/perp_static:leverage=3"
ETH_SPOT = "eth-trend/spot"


def h(hours: float) -> datetime:
    """Hours after 2024-01-01T00:00Z."""
    return DAY0 + timedelta(hours=hours)


def nav(hours: float, value: float, exposure: float, price: float) -> NavRecord:
    leverage = exposure / value if value else 0.0
    return NavRecord(h(hours), value, value - exposure, exposure, leverage, price)


def fee(hours: float, kind: FeeKind, amount: float, fill: int | None = None) -> FeeRecord:
    return FeeRecord(h(hours), kind, amount, fill)


def _portfolios() -> list[PortfolioRow]:
    btc, eth = "BTC/USDT:USDT", "ETH/USDT:USDT"
    rows = [
        (TOKEN, "btc-hold", "token:ftx", "hold", btc, 10010.0),
        (PERP, "btc-hold", "perp:risk_pct=0.02", "hold", btc, 10000.0),
        (SPOT, "btc-hold", "spot", "hold", btc, 10000.0),
        (STATIC, "eth-trend", "perp_static:leverage=3", "donchian", eth, 1000.0),
        (ETH_SPOT, "eth-trend", "spot", "donchian", eth, 1000.0),
    ]
    # As `ltbot run` registers them: with the vehicle parameters of the default config.
    return [
        PortfolioRow(*row, vehicle_params=vehicle_params(Settings(), parse_vehicle(row[2])))
        for row in rows
    ]


def _token_steps() -> list[PortfolioStep]:
    q = 399.725
    rebalance = TokenEventRecord(h(12), TokenEventKind.REBALANCE, 36000 / 15997, 3.0, 159.89, 11991)
    split = TokenEventRecord(h(18), TokenEventKind.REVERSE_SPLIT, 2.9997, 2.9997, 1599.05, 0.0)
    return [
        PortfolioStep(
            TOKEN,
            fills=[FillRecord(h(-1), "BTC-BULL", "buy", 100.0, 100.0, 10.0, FillReason.SUBSCRIBE)],
            fees=[fee(-1, FeeKind.SUBSCRIPTION, 10.0, 0)],
            nav=[nav(-1, 10000.0, 30000.0, 100.0), nav(0, 10000.0, 30000.0, 100.0)],
        ),
        PortfolioStep(TOKEN, fees=[fee(8, FeeKind.FUNDING, 3.0)], nav=[nav(8, 9997, 30000, 100)]),
        PortfolioStep(
            TOKEN,
            fills=[
                FillRecord(h(12), "BTC/USDT:USDT", "buy", 99.925, 120.0, 6.0, FillReason.REBALANCE)
            ],
            fees=[fee(12, FeeKind.TRADING, 6.0, 0), fee(12, FeeKind.SLIPPAGE, 2.0)],
            token_events=[rebalance],
            nav=[nav(12, 15989.0, q * 120, 120.0)],
        ),
        PortfolioStep(
            TOKEN, fees=[fee(16, FeeKind.FUNDING, -1.5)], nav=[nav(16, 15990.5, q * 120, 120)]
        ),
        PortfolioStep(TOKEN, token_events=[split], nav=[nav(18, 15990.5, q * 120, 120)]),
        PortfolioStep(
            TOKEN, fees=[fee(20, FeeKind.MANAGEMENT, 4.0)], nav=[nav(20, 13588.15, q * 114, 114)]
        ),
        PortfolioStep(TOKEN, nav=[nav(24, 11189.8, q * 108, 108), nav(25, 11604.3, q * 110, 110)]),
    ]


def _perp_steps() -> list[PortfolioStep]:
    first = PositionRecord(
        "p1", "BTC/USDT:USDT", "short", h(1), 100.0, 20.0, 110.0, None, 0.02, 0.2, None
    )
    closed = PositionRecord(
        "p1", "BTC/USDT:USDT", "short", h(1), 100.0, 20.0, 110.0, None, 0.02, 0.2, None,
        closed_at=h(12), exit_price=120.0, pnl=-403.1, exit_reason="stop",
    )  # fmt: skip
    second = PositionRecord(
        "p2", "BTC/USDT:USDT", "short", h(20), 114.0, 10.0, 134.0, None, 0.02, 0.12, 224.5
    )
    return [
        PortfolioStep(PERP, nav=[nav(0, 10000.0, 0.0, 100.0)]),
        PortfolioStep(
            PERP,
            fills=[FillRecord(h(1), "BTC/USDT:USDT", "sell", 20.0, 100.0, 1.0, FillReason.ENTRY)],
            fees=[fee(1, FeeKind.TRADING, 1.0, 0), fee(1, FeeKind.SLIPPAGE, 0.5)],
            positions=[first],
            nav=[nav(1, 9998.5, -2000.0, 100.0)],
        ),
        PortfolioStep(PERP, fees=[fee(8, FeeKind.FUNDING, -0.2)], nav=[nav(8, 9998.7, -2000, 100)]),
        PortfolioStep(
            PERP,
            fills=[FillRecord(h(12), "BTC/USDT:USDT", "buy", 20.0, 120.0, 1.2, FillReason.STOP)],
            fees=[fee(12, FeeKind.TRADING, 1.2, 0), fee(12, FeeKind.SLIPPAGE, 0.6)],
            positions=[closed],
            nav=[nav(12, 9596.9, 0.0, 120.0)],
        ),
        PortfolioStep(
            PERP,
            fills=[FillRecord(h(20), "BTC/USDT:USDT", "sell", 10.0, 114.0, 0.57, FillReason.ENTRY)],
            fees=[fee(20, FeeKind.TRADING, 0.57, 0), fee(20, FeeKind.SLIPPAGE, 0.3)],
            positions=[second],
            nav=[nav(20, 9596.03, -1140.0, 114.0)],
        ),
        PortfolioStep(PERP, nav=[nav(24, 9656.03, -1080.0, 108.0)]),
    ]


def _other_steps() -> list[PortfolioStep]:
    spot = [nav(t, 100 * p, 100 * p, p) for t, p in ((0, 100), (12, 120), (20, 114), (24, 108))]
    liquidation = FillRecord(
        h(10), "ETH/USDT:USDT", "sell", 1.5, 1400.0, 2.1, FillReason.LIQUIDATION
    )
    return [
        PortfolioStep(SPOT, nav=spot),
        PortfolioStep(STATIC, nav=[nav(0, 1000.0, 3000.0, 2000.0)]),
        PortfolioStep(
            STATIC,
            fills=[liquidation],
            fees=[fee(10, FeeKind.TRADING, 2.1, 0)],
            nav=[nav(10, 97.9, 0.0, 1400.0), nav(24, 97.9, 0.0, 1500.0)],
        ),
        PortfolioStep(ETH_SPOT, nav=[nav(0, 1000.0, 0.0, 2000.0), nav(24, 1000.0, 0.0, 1500.0)]),
    ]


def write_fixed_ledger(store: Store) -> None:
    """Write the fixed two-experiment ledger described in this module's docstring."""
    store.upsert_portfolios(_portfolios())
    for step in _token_steps() + _perp_steps() + _other_steps():
        store.write_steps([StepBatch(portfolios=[step])])
