"""One portfolio's metrics over a study window, folded record by record (no ledger kept).

Conventions (the daily report's, bot/reports/metrics.py, except where said):
- Money in USDT; a fee amount > 0 is a cost, < 0 an income (funding received).
- NAV records with the same time replace each other (the ledger's `nav` primary key keeps the
  last one), so a fold sees exactly the rows a ledger would hold.
- The portfolio is flat at its capital from the window start to its first NAV record.
- Max drawdown: every NAV record, as a positive fraction of the running peak (capital first).
- Time under water: the fraction of the window during which the NAV stood below its running
  peak (each record's NAV holds until the next record, the last one until the window end).
- Sharpe and Sortino: daily log returns of the NAV at each UTC midnight of the window and at
  its end (the last NAV at or before each), annualised with sqrt(365) (crypto trades every day
  of the year); risk-free rate 0. Sortino's downside deviation is sqrt(mean(min(r, 0)^2)) over
  all days. None with fewer than two returns or zero deviation.
- Decay attribution (tokens): bot/reports/decay.py on the hourly NAV grid of the window.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timedelta
from typing import Any

from bot.domain.records import NavRecord
from bot.domain.values import FeeKind
from bot.reports import metrics
from bot.reports.decay import FeeEvent, decompose
from bot.reports.points import SeriesPoint, hourly_nav_grid

DAY = timedelta(days=1)
FEE_KINDS: tuple[str, ...] = tuple(k.value for k in FeeKind)
# The token attribution's terms (bot/reports/decay.py: natural-log returns), as result columns.
ATTRIBUTION = ("gap", "decay", "rebalancing", "management", "funding", "subscription_redemption")
DECAY_COLUMNS = ("benchmark_log", *(f"attr_{n}" for n in ATTRIBUTION), "decay_estimate")


class PortfolioFold:
    """Accumulate one portfolio's NAV records, fees, fills, token events and death."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        capital: float,
        target: tuple[float, float] | None = None,
    ) -> None:
        """`target`: |L| of the long and short token (token vehicles: the decay attribution)."""
        self.start, self.end, self.capital, self.target = start, end, capital, target
        self.fees = dict.fromkeys(FEE_KINDS, 0.0)
        self.counts = {"fills": 0, "stops": 0, "take_profits": 0, "liquidations": 0}
        self.rebalances = 0
        self.died_at: datetime | None = None
        self._navs: list[NavRecord] = []  # in time order; folded by `result`
        self._fee_events: list[FeeEvent] = []

    def nav(self, record: NavRecord) -> None:
        """Fold one NAV record (times never decrease)."""
        self._navs.append(record)

    def navs(self, records: list[NavRecord]) -> None:
        """Fold NAV records in time order (after any folded before)."""
        self._navs += records

    def fee(self, at: datetime, kind: str, amount: float) -> None:
        """Fold one fee (> 0 cost, < 0 income, USDT)."""
        self.fees[kind] = self.fees.get(kind, 0.0) + amount
        if self.target is not None:
            self._fee_events.append(FeeEvent(at, kind, amount))

    def fill(self, reason: str) -> None:
        """Fold one fill by its reason."""
        self.counts["fills"] += 1
        key = {"stop": "stops", "take_profit": "take_profits", "liquidation": "liquidations"}
        if reason in key:
            self.counts[key[reason]] += 1

    def token_event(self, kind: str) -> None:
        """Fold one token event (rebalances are counted)."""
        self.rebalances += kind == "rebalance"

    def death(self, at: datetime) -> None:
        """The portfolio died at `at` (the first death counts)."""
        self.died_at = self.died_at or at

    def result(self) -> dict[str, Any]:
        """The metrics (call once, after the last record)."""
        navs = _last_per_time(self._navs)
        final = navs[-1].nav if navs else self.capital
        drawdown, under = self._drawdown_and_under_water(navs)
        daily = metrics.log_returns(_daily_navs(navs, self.start, self.end, self.capital))
        span = (self.end - self.start).total_seconds()
        out: dict[str, Any] = {
            "final_nav": final,
            "total_return": metrics.total_return(self.capital, final),
            "log_return": math.log(final / self.capital) if final > 0 else None,
            "max_drawdown": drawdown,
            "time_under_water": under / span if span > 0 else 0.0,
            "sharpe": metrics.sharpe_ratio(daily, 365),
            "sortino": metrics.sortino_ratio(daily, 365),
            **{f"fee_{k}": v for k, v in sorted(self.fees.items())},
            "funding": self.fees.get("funding", 0.0),
            **self.counts,
            "rebalances": self.rebalances,
            "died_at": None if self.died_at is None else self.died_at.isoformat(),
        }
        out.update(self._decay(navs))
        return out

    def _drawdown_and_under_water(self, navs: list[NavRecord]) -> tuple[float, float]:
        # Max drawdown over every record; seconds below the running peak, each NAV holding
        # from its record to the next (the capital from the window start to the first).
        peak = last_nav = self.capital
        last_at = self.start
        drawdown = under = 0.0
        for record in navs:
            if last_nav < peak:
                under += (record.at - last_at).total_seconds()
            nav = record.nav
            if nav > peak:  # max(peak, nav) and max(drawdown, ...) without the calls
                peak = nav
            if peak > 0 and 1.0 - nav / peak > drawdown:
                drawdown = 1.0 - nav / peak
            last_at, last_nav = record.at, nav
        if last_nav < peak:
            under += (self.end - last_at).total_seconds()
        return drawdown, under

    def _decay(self, navs: list[NavRecord]) -> dict[str, float | None]:
        if self.target is None:
            return dict.fromkeys(DECAY_COLUMNS)
        # The hourly grid as bot/reports/model.py builds it (the last NAV at or before each hour).
        points = [SeriesPoint(r.at, r.nav, r.leverage, r.exposure, r.price) for r in navs]
        grid = hourly_nav_grid(points, self.start, self.end, self.capital)
        long_l, short_l = self.target
        parts = (
            decompose(grid, self._fee_events, (long_l, short_l, "preset"))
            if len(grid) > 1
            else None
        )
        if parts is None:
            return dict.fromkeys(DECAY_COLUMNS)
        out = {f"attr_{name}": float(getattr(parts, name)) for name in ATTRIBUTION}
        return {"benchmark_log": parts.benchmark_log, **out, "decay_estimate": parts.decay_estimate}


def _last_per_time(records: list[NavRecord]) -> list[NavRecord]:
    # Records with the same time replace each other, as the ledger's `nav` primary key does.
    kept = [r for r, nxt in zip(records, records[1:], strict=False) if nxt.at != r.at]
    return kept + records[-1:]


def _daily_navs(
    navs: list[NavRecord], start: datetime, end: datetime, capital: float
) -> list[float]:
    """The NAV at each UTC midnight from `start` up to `end`: the last record at or before it
    (the capital before the first record)."""
    times = [r.at for r in navs]
    out = []
    at = start
    while at <= end:
        i = bisect.bisect_right(times, at)
        out.append(navs[i - 1].nav if i else capital)
        at += DAY
    return out
