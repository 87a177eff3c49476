"""The log lines of a step's trades: every fill to the log file only, and one compact console
line per position opened or closed (a token subscribed to or redeemed), bound `trade=True`
so that a replay's console can leave them to its log file (bot/runtime/log_setup.py).

Prices and quantities print with six significant digits; PnL is realised USDT after fees
(`PositionRecord.pnl`, > 0 a gain). Times are the market's (UTC), so a replay's lines say
when the trade happened, not when it was replayed.
"""

from __future__ import annotations

from loguru import logger

from bot.domain.records import FillRecord, PositionRecord
from bot.domain.values import FillReason
from bot.portfolios.protocol import Records

# Fills that a console line reports as a token bought or sold (the units are the position).
_TOKEN_VERBS = {FillReason.SUBSCRIBE: "bought", FillReason.REDEEM: "sold"}
# Bound once: this runs for every portfolio and step of a replay (they share loguru's sinks).
_DETAIL, _TRADE = logger.bind(file_only=True), logger.bind(trade=True)


def log_trades(portfolio_id: str, records: Records) -> None:
    """Log one step's fills of `portfolio_id` (file only) and its opens and closes (console)."""
    if not records.fills and not records.positions:
        return  # most steps of most portfolios
    detail, trade = _DETAIL, _TRADE
    for fill in records.fills:
        detail.info(
            "{} {} {} {:.6g} @ {:.6g} ({})",
            portfolio_id, fill.reason.value, fill.side, fill.qty, fill.price, fill.instrument,
        )  # fmt: skip
        if fill.reason in _TOKEN_VERBS:
            trade.info(_token_line(portfolio_id, fill))
    entered = {f.instrument for f in records.fills if f.reason is FillReason.ENTRY}
    for position in records.positions:
        if position.closed_at is not None:
            trade.info(_closed_line(portfolio_id, position))
        elif position.symbol in entered:
            trade.info(_opened_line(portfolio_id, position))


def _token_line(portfolio_id: str, fill: FillRecord) -> str:
    verb = _TOKEN_VERBS[fill.reason]
    return (
        f"{portfolio_id} {verb} {fill.qty:,.6g} {fill.instrument} units at {fill.price:.6g} "
        f"({fill.at:%Y-%m-%d %H:%M} UTC)"
    )


def _opened_line(portfolio_id: str, p: PositionRecord) -> str:
    stop = "no stop" if p.stop is None else f"stop {p.stop:.6g}"
    liq = "" if not p.liq_price else f", liq. {p.liq_price:.6g}"
    return (
        f"{portfolio_id} opened {p.side} {p.qty:.6g} {p.symbol} at {p.entry:.6g} "
        f"({p.opened_at:%Y-%m-%d %H:%M} UTC), {stop}{liq}"
    )


def _closed_line(portfolio_id: str, p: PositionRecord) -> str:
    at = "" if p.closed_at is None else f" ({p.closed_at:%Y-%m-%d %H:%M} UTC)"
    price = "" if p.exit_price is None else f" at {p.exit_price:.6g}"
    pnl = "" if p.pnl is None else f", PnL {p.pnl:+,.2f} USDT"
    return (
        f"{portfolio_id} closed {p.side} {p.qty:.6g} {p.symbol}{price}{at} "
        f"by {p.exit_reason or 'exit'}{pnl}"
    )
