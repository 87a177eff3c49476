"""One sampled NAV point of a portfolio (shared by the report model, decay and charts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A portfolio at `at`: `nav` and `exposure` in USDT (short exposure < 0), `leverage` =
    exposure / nav, `price` the underlying price used for marking."""

    at: datetime
    nav: float
    leverage: float
    exposure: float
    price: float
