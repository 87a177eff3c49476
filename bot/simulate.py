"""`simulate_token`: run one leveraged-token preset over pandas prices or candles (notebooks).

It drives the pure fund of `bot.domain.leveraged_token` the way the engine does: at each price
or candle, first the timed events due since the previous one (funding settlements from
`funding`, the preset's management fee and scheduled rebalance), then the price path with its
triggers. A price series is one continuous path (a trigger executes where it is crossed between
two prices), every price a bar close; each event takes the latest price at or before its time.
Candles are walked as a replay walks them (`price_path.bar_path`: open, nearer extreme, farther
extreme, close, all stamped with the bar's open time; the open is a gap, the close a bar close)
and an event due at a bar's open takes the previous close, so a replay of the same candles (as
last and mark prices) gives the same fund.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from bot.domain.leveraged_token import TokenState, new_token, on_price
from bot.domain.price_path import bar_path
from bot.domain.token_presets import token_spec
from bot.domain.token_records import TokenRecords
from bot.domain.token_schedule import apply_funding, apply_timed_event, due_events
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side, TokenEventKind

COLUMNS = [
    "price",
    "nav",
    "value",
    "leverage",
    "exposure",
    "rebalances",
    "notional_traded",
    "rebalance_cost",
    "management_fee",
    "funding",
    "market",
    "decay",
    "split_factor",
    "wiped_out",
]


def simulate_token(
    prices: pd.Series | pd.DataFrame,
    preset: str,
    direction: str | Side = "long",
    funding: pd.Series | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Simulate preset `preset` over `prices`; return one row per price (or candle).

    `prices`: underlying (perp mark) prices in USDT with a strictly increasing UTC index: a
    Series, or a DataFrame of candles with columns open/high/low/close indexed by open time
    (the row shows the fund after the close).
    `funding`: optional settled funding rates (fraction per interval, > 0 = longs pay) indexed
    by settlement time. `overrides`: any `TokenSpec` field by name (`target_leverage=2`).

    Columns (per token unit, USDT unless stated): `nav` per unit (jumps at reverse splits),
    `value` (split-adjusted: the value of one unit bought at the start, starting at 1.0),
    `leverage` (real, signed), `exposure` (perp notional), `rebalances` (count in the step),
    `notional_traded`, `rebalance_cost`, `management_fee`, `funding` (costs > 0, income < 0),
    `market` (L x the underlying move) and `decay` (the drift of λ away from L) as PnL,
    `split_factor`, `wiped_out`.
    """
    index, paths = _paths(prices)
    candles = isinstance(prices, pd.DataFrame)
    rates = _checked_funding(funding)
    spec = token_spec(preset, _side(direction), overrides)
    times: list[datetime] = list(index.to_pydatetime())
    state, rows = new_token(spec, times[0], paths[0][0]), []
    for k, (at, path) in enumerate(zip(times, paths, strict=True)):
        row, start = _Row(), 1 if k == 0 else 0  # the first price launches the fund
        if k > 0:
            state = _timed(spec, state, at, state.price if candles else path[0], rates, row)
        for i in range(start, len(path)):
            gap, close = candles and i == 0, i == len(path) - 1
            state, records = on_price(spec, state, at, path[i], bar_close=close, gap=gap)
            row.add(records)
        rows.append(row.finish(state))
    return pd.DataFrame(rows, index=index, columns=COLUMNS)


def _paths(prices: pd.Series | pd.DataFrame) -> tuple[pd.DatetimeIndex, list[tuple[float, ...]]]:
    if not isinstance(prices, pd.DataFrame):
        index = _checked_index(prices, "prices")
        values = [float(v) for v in prices.to_numpy(dtype=float)]
        if any(not v > 0 for v in values):
            raise ValueError("prices must be > 0 and not NaN")
        return index, [(v,) for v in values]
    missing = [c for c in ("open", "high", "low", "close") if c not in prices.columns]
    if missing:
        raise ValueError(f"candles need columns open, high, low, close; missing {missing}")
    ohlc = prices[["open", "high", "low", "close"]]
    index = _checked_index(ohlc, "candles")
    return index, [bar_path(*(float(v) for v in row)) for row in ohlc.to_numpy(dtype=float)]


def _timed(
    spec: TokenSpec,
    state: TokenState,
    at: datetime,
    price: float,
    rates: list[tuple[datetime, float]],
    row: _Row,
) -> TokenState:
    # Funding comes before the preset's own events at the same instant (DESIGN step 3 order).
    times = [t for t, _ in rates]
    due = rates[bisect.bisect_right(times, state.at) : bisect.bisect_right(times, at)]
    queue: list[tuple[datetime, int, Any]] = [(t, -1, r) for t, r in due]
    queue += [(e.at, e.rank, e) for e in due_events(spec, state, state.at, at)]
    for when, rank, item in sorted(queue, key=lambda entry: (entry[0], entry[1])):
        # Each event uses the latest price at or before its own time.
        event_price = price if when >= at else state.price
        if rank < 0:
            state, records = apply_funding(spec, state, when, item, event_price)
        else:
            state, records = apply_timed_event(spec, state, item, event_price)
        row.add(records)
    return state


@dataclass(slots=True)
class _Row:
    sums: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(COLUMNS[5:12], 0.0),
    )

    def add(self, records: TokenRecords) -> _Row:
        for event in records.events:
            if event.kind == TokenEventKind.REBALANCE:
                self.sums["rebalances"] += 1
                self.sums["notional_traded"] += event.notional_traded
        for step in records.steps:
            self.sums["rebalance_cost"] -= step.rebalance_cost * step.nav_before
            self.sums["management_fee"] -= step.management_fee * step.nav_before
            self.sums["funding"] -= step.funding * step.nav_before
            self.sums["market"] += step.market * step.nav_before
            self.sums["decay"] += step.decay * step.nav_before
        return self

    def finish(self, state: TokenState) -> list[object]:
        head = [state.price, state.nav, state.nav / state.split_factor, state.leverage]
        return [*head, state.exposure, *self.sums.values(), state.split_factor, state.wiped_out]


def _side(direction: str | Side) -> Side:
    if isinstance(direction, Side):
        return direction
    sides = {"long": Side.LONG, "short": Side.SHORT}
    if direction not in sides:
        raise ValueError(f"direction must be 'long' or 'short', got {direction!r}")
    return sides[direction]


def _checked_index(series: pd.Series | pd.DataFrame, what: str) -> pd.DatetimeIndex:
    if not isinstance(series, pd.Series | pd.DataFrame) or series.empty:
        raise ValueError(f"{what} must be a non-empty pandas Series or DataFrame")
    index = series.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError(f"{what} needs a timezone-aware DatetimeIndex (UTC)")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError(f"{what} index must be strictly increasing")
    if series.isna().to_numpy().any():
        raise ValueError(f"{what} must not contain NaN")
    return index.tz_convert("UTC")


def _checked_funding(funding: pd.Series | None) -> list[tuple[datetime, float]]:
    if funding is None or (isinstance(funding, pd.Series) and funding.empty):
        return []
    index = _checked_index(funding, "funding")
    rates = funding.to_numpy(dtype=float)
    return [(t, float(r)) for t, r in zip(index.to_pydatetime(), rates, strict=True)]
