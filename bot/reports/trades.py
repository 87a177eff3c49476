"""Positions and trades of a perp portfolio, from ledger rows (pure, no I/O).

A trade is one ledger position that overlaps the report window. Its `pnl` is the ledger's: net
of its trading fees, slippage, liquidation fee and funding (USDT). Its `fees` are the trading,
slippage and liquidation fees of its entry fill and exit fill, its `funding` the net funding
booked to the portfolio while it was open (opened_at < at <= closed_at, or the window's end);
both > 0 are costs, and only rows inside the window count (a trade opened before the window
shows only the costs booked inside it). A fee is matched to a fill by its `fill_id` (an `entry`
fill or an exit), else by time (a position opened at that instant, else one closed then).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from bot.adapters.sqlite.timefmt import parse_time

Row = Mapping[str, Any]
_FILL_COSTS = ("trading", "slippage", "liquidation")


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position open at the end of the window (qty in base units, prices in USDT)."""

    side: str
    qty: float
    entry: float
    stop: float | None
    leverage: float
    liq_price: float | None


@dataclass(frozen=True, slots=True)
class Trade:
    """One perp position: prices in USDT, qty in base units; `pnl` net (USDT, None while
    open), `fees` and `funding` > 0 costs (USDT); `reason` the exit reason or "open"."""

    opened_at: datetime
    closed_at: datetime | None
    side: str
    qty: float
    entry: float
    exit: float | None
    reason: str
    pnl: float | None
    fees: float
    funding: float

    @property
    def duration(self) -> timedelta | None:
        """Time from the entry to the exit (None while open)."""
        return None if self.closed_at is None else self.closed_at - self.opened_at


def open_positions(rows: Sequence[Row], end: datetime) -> list[OpenPosition]:
    """The positions open at `end`."""
    out = []
    for row in rows:
        closed = row["closed_at"]
        if parse_time(str(row["opened_at"])) <= end and (
            closed is None or parse_time(str(closed)) > end
        ):
            out.append(
                OpenPosition(
                    side=str(row["side"]),
                    qty=float(row["qty"]),
                    entry=float(row["entry"]),
                    stop=None if row["stop"] is None else float(row["stop"]),
                    leverage=float(row["leverage"]),
                    liq_price=None if row["liq_price"] is None else float(row["liq_price"]),
                )
            )
    return out


def trades(
    positions: Sequence[Row], fills: Sequence[Row], fees: Sequence[Row], end: datetime
) -> tuple[Trade, ...]:
    """Every position overlapping the window, in opening order, with its costs."""
    fill_reason = {int(f["id"]): str(f["reason"]) for f in fills}
    openings = {str(row["opened_at"]) for row in positions}
    entry_costs: dict[str, float] = {}
    exit_costs: dict[str, float] = {}
    funding: list[tuple[datetime, float]] = []
    for row in fees:
        kind, amount, at = str(row["kind"]), float(row["amount"]), str(row["at"])
        if kind == "funding":
            funding.append((parse_time(at), amount))
        elif kind in _FILL_COSTS:
            # By the fill's reason; a fee without a fill goes to a position opened then.
            fill = row.get("fill_id")
            reason = None if fill is None else fill_reason.get(int(fill))
            entry = reason == "entry" if reason is not None else at in openings
            side = entry_costs if entry else exit_costs
            side[at] = side.get(at, 0.0) + amount
    funding.sort(key=lambda item: item[0])
    times = [at for at, _ in funding]
    cumulative = [0.0, *accumulate(amount for _, amount in funding)]

    def paid(after: datetime, until: datetime) -> float:
        lo, hi = bisect.bisect_right(times, after), bisect.bisect_right(times, until)
        return cumulative[hi] - cumulative[lo] if hi > lo else 0.0

    out = []
    for row in positions:
        opened = parse_time(str(row["opened_at"]))
        closed = None if row["closed_at"] is None else parse_time(str(row["closed_at"]))
        last = closed if closed is not None and closed <= end else end
        shut = closed is not None and closed <= end
        out.append(
            Trade(
                opened_at=opened,
                closed_at=closed if shut else None,
                side=str(row["side"]),
                qty=float(row["qty"]),
                entry=float(row["entry"]),
                exit=float(row["exit_price"]) if shut and row["exit_price"] is not None else None,
                reason=str(row["exit_reason"]) if shut and row["exit_reason"] else "open",
                pnl=float(row["pnl"]) if shut and row["pnl"] is not None else None,
                fees=entry_costs.get(str(row["opened_at"]), 0.0)
                + (exit_costs.get(str(row["closed_at"]), 0.0) if shut else 0.0),
                funding=paid(opened, last),
            )
        )
    return tuple(out)
