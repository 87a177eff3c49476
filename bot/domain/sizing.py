"""Position sizing by risk (MECHANICS.md §10), lot rounding and the minimum notional.

Units: prices in USDT per base unit, quantities in base units, equity and notional in USDT;
`risk_pct`, fee rates and slippage are fractions (0.02 = 2 %, 0.0005 = 0.05 %, 1 bp = 0.0001).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from bot.domain.values import Side


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What the exchange allows and charges for one market.

    `lot_step`: quantity increment in base units (0 = no rounding); `min_notional`: smallest
    order notional in USDT; `taker_fee` / `maker_fee`: fractions of the notional;
    `liquidation_fee`: the insurance clearance fee rate of a liquidation, a fraction of the
    liquidated notional (exchangeInfo `liquidationFee`; 0 for spot).
    """

    lot_step: float
    min_notional: float
    taker_fee: float
    maker_fee: float
    liquidation_fee: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lot_step", "min_notional", "taker_fee", "maker_fee", "liquidation_fee"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.taker_fee >= 0.1 or self.maker_fee >= 0.1 or self.liquidation_fee >= 0.1:
            raise ValueError(f"fee rates are fractions below 0.1, got {self}")


# Offline defaults, used when no ccxt market info is available.
# Binance USDⓈ-M (GET /fapi/v1/exchangeInfo, serverTime 2025-12-24, shared/data/exchange_info):
# BTCUSDT and ETHUSDT have LOT_SIZE = MARKET_LOT_SIZE stepSize 0.001 and MIN_NOTIONAL 100 / 20.
# Fees: VIP0 taker 0.05 % / maker 0.02 % (MECHANICS §9; the official text is UNCONFIRMED).
# Liquidation clearance fee: `liquidationFee` of the same exchangeInfo, 0.02 for BTCUSDT and
# ETHUSDT; 0.015 is the most common value (408 of its 648 perpetuals), used for any other.
USDM_TAKER_FEE = 0.0005
USDM_MAKER_FEE = 0.0002
USDM_RULES: dict[str, MarketRules] = {
    "BTC/USDT:USDT": MarketRules(0.001, 100.0, USDM_TAKER_FEE, USDM_MAKER_FEE, 0.02),
    "ETH/USDT:USDT": MarketRules(0.001, 20.0, USDM_TAKER_FEE, USDM_MAKER_FEE, 0.02),
}
# Any other perpetual offline: no lot rounding and a 5 USDT minimum (the common Binance value,
# UNCONFIRMED per symbol). Live runs take the real values from ccxt market info.
USDM_FALLBACK = MarketRules(0.0, 5.0, USDM_TAKER_FEE, USDM_MAKER_FEE, 0.015)
# Binance spot (GET /api/v3/exchangeInfo, 2024-09-08): LOT_SIZE stepSize 0.00001 BTC /
# 0.0001 ETH, NOTIONAL minNotional 5; regular spot fee 0.1 % both sides (UNCONFIRMED text).
SPOT_FEE = 0.001
SPOT_RULES: dict[str, MarketRules] = {
    "BTC/USDT": MarketRules(0.00001, 5.0, SPOT_FEE, SPOT_FEE),
    "ETH/USDT": MarketRules(0.0001, 5.0, SPOT_FEE, SPOT_FEE),
}
SPOT_FALLBACK = MarketRules(0.0, 5.0, SPOT_FEE, SPOT_FEE)


def default_rules(symbol: str) -> MarketRules:
    """Offline rules for a ccxt symbol: perpetual (`BTC/USDT:USDT`) or spot (`BTC/USDT`)."""
    if ":" in symbol:
        return USDM_RULES.get(symbol, USDM_FALLBACK)
    return SPOT_RULES.get(symbol, SPOT_FALLBACK)


def spot_symbol(symbol: str) -> str:
    """The spot market of a perpetual symbol: `BTC/USDT:USDT` -> `BTC/USDT`."""
    return symbol.split(":", 1)[0]


def round_down_to_step(qty: float, step: float) -> float:
    """Round a quantity down to a multiple of `step` (no rounding when step is 0)."""
    if step <= 0.0 or qty <= 0.0:
        return max(qty, 0.0)
    exact_step = Decimal(repr(step))
    # A relative 1e-9 tolerance keeps 0.19999999999999998 (float noise for 0.2) at 0.2.
    steps = (Decimal(repr(qty)) / exact_step + Decimal("1e-9")).to_integral_value(ROUND_FLOOR)
    return float(steps * exact_step)


def fill_price(price: float, buy: bool, slippage: float) -> float:
    """The executed price of a market order: a buy pays `slippage` above, a sell gets below."""
    return price * (1.0 + slippage) if buy else price * (1.0 - slippage)


def loss_per_unit(side: Side, entry: float, stop: float, fee: float, slippage: float) -> float:
    """Loss per base unit (USDT) of an entry at `entry` stopped at `stop`, fees and slippage in.

    Both legs are taker orders: slippage moves each fill against us, and the fee is charged on
    the executed notional. With slippage 0 this is §10's |entry - stop| + fee x entry +
    fee x stop; `size_by_risk` uses it so that a stop-out loses exactly the intended risk.
    """
    s = float(side)
    entry_cost = entry * (slippage + fee * (1.0 + s * slippage))
    exit_cost = stop * (slippage + fee * (1.0 - s * slippage))
    return abs(entry - stop) + entry_cost + exit_cost


def validate_stop(side: Side, entry: float, stop: float) -> None:
    """Raise ValueError unless `stop` is a positive price strictly on the losing side of entry."""
    if not (math.isfinite(stop) and stop > 0.0):
        raise ValueError(f"stop must be a price > 0, got {stop!r}")
    if (entry - stop) * float(side) <= 0.0:
        where = "below" if side is Side.LONG else "above"
        raise ValueError(f"stop {stop} must be {where} the entry {entry} for a {side.label}")


def stop_from_pct(side: Side, fill: float, stop_pct: float) -> float:
    """The stop price (USDT) `stop_pct` away from the entry's fill price, on the losing side.

    A long's stop is fill x (1 - stop_pct), a short's fill x (1 + stop_pct): a distance in
    price, as freqtrade's `stoploss = -0.04` is at leverage 1 (freqtrade divides it by the
    leverage: persistence/trade_model.py, `adjust_stop_loss`). Raise ValueError unless
    0 < stop_pct < 1 (a long's stop at or below 0 is no price).
    """
    if isinstance(stop_pct, bool) or not isinstance(stop_pct, int | float):
        raise ValueError(f"stop_pct must be a number, got {stop_pct!r}")
    if not 0.0 < stop_pct < 1.0:
        raise ValueError(f"stop_pct must be a fraction > 0 and < 1, got {stop_pct!r}")
    return fill * (1.0 - float(side) * stop_pct)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The result of risk sizing.

    `qty` in base units (0 when refused); `intended_risk` = equity x risk_pct (USDT);
    `effective_risk` = qty x loss at the stop incl. fees and slippage (USDT); `capped` is True
    when the max-notional cap bound the size; `refused` says why no order is possible.
    """

    qty: float
    intended_risk: float
    effective_risk: float
    loss_per_unit: float
    capped: bool
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class RiskOrder:
    """The inputs of `size_by_risk` (prices USDT, fractions for rates)."""

    side: Side
    entry: float
    stop: float
    equity: float
    risk_pct: float
    max_notional: float
    fee: float
    slippage: float
    fee_aware: bool = True


def size_by_risk(order: RiskOrder, rules: MarketRules) -> Sizing:
    """Size a position so that a stop-out loses `equity x risk_pct`.

    qty = risk / |entry - stop| (plain) or risk / loss_per_unit (fee-aware, §10, the default),
    then capped so that qty x entry <= max_notional, rounded down to the lot step, and refused
    below the market's minimum notional.
    """
    if not (order.entry > 0.0 and order.equity > 0.0 and order.max_notional > 0.0):
        raise ValueError(f"entry, equity and max_notional must be > 0, got {order}")
    validate_stop(order.side, order.entry, order.stop)
    intended = order.equity * order.risk_pct
    per_unit = loss_per_unit(order.side, order.entry, order.stop, order.fee, order.slippage)
    divisor = per_unit if order.fee_aware else abs(order.entry - order.stop)
    wanted = intended / divisor
    capped = wanted * order.entry > order.max_notional
    qty = round_down_to_step(min(wanted, order.max_notional / order.entry), rules.lot_step)
    refusal = min_notional_refusal(qty, order.entry, rules)
    if refusal is not None:
        return Sizing(0.0, intended, 0.0, per_unit, capped, refusal)
    return Sizing(qty, intended, qty * per_unit, per_unit, capped)


def min_notional_refusal(qty: float, price: float, rules: MarketRules) -> str | None:
    """A reason when `qty` at `price` is below the market's minimum notional, else None."""
    if qty <= 0.0 or qty * price < rules.min_notional:
        return f"notional {qty * price:.2f} USDT below the minimum {rules.min_notional:g} USDT"
    return None
