"""Sampled NAV points of a portfolio and the hourly grid (shared by the model, decay, charts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.adapters.sqlite.timefmt import parse_time
from bot.reports.metrics import hourly_grid


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A portfolio at `at`: `nav` and `exposure` in USDT (short exposure < 0), `leverage` =
    exposure / nav, `price` the underlying price used for marking."""

    at: datetime
    nav: float
    leverage: float
    exposure: float
    price: float

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self, at: datetime, nav: float, leverage: float, exposure: float, price: float
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "nav", nav)
        object.__setattr__(self, "leverage", leverage)
        object.__setattr__(self, "exposure", exposure)
        object.__setattr__(self, "price", price)


def point_from_row(row: Mapping[str, Any]) -> SeriesPoint:
    """The point of one `nav` ledger row."""
    return SeriesPoint(
        at=parse_time(str(row["at"])),
        nav=float(row["nav"]),
        leverage=float(row["leverage"]),
        exposure=float(row["exposure"]),
        price=float(row["price"]),
    )


def hourly_nav_grid(
    points: Sequence[SeriesPoint], start: datetime, end: datetime, capital: float
) -> list[SeriesPoint]:
    """The last point at or before `start`, each full hour and `end` (see metrics.hourly_grid).

    Before its first NAV row a portfolio is flat at its capital; its price is unknown, so the
    first recorded price stands in (it does not matter: nothing is held).
    """
    if not points:
        return []
    first = points[0]
    flat = SeriesPoint(first.at, capital, 0.0, 0.0, first.price)
    grid = []
    i = -1  # index of the last point at or before the grid time (both lists ascend)
    for at in hourly_grid(start, end):
        while i + 1 < len(points) and points[i + 1].at <= at:
            i += 1
        source = points[i] if i >= 0 else flat
        grid.append(SeriesPoint(at, source.nav, source.leverage, source.exposure, source.price))
    return grid
