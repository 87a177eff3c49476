"""A leveraged-token fund's state (`TokenState`) and its deferred requests; units as in
bot/domain/leveraged_token.py, which works on them and re-exports both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A subscription (`amount` in USDT, already committed by the holder) or a redemption
    (`amount` in token units) asked while the fund was rebalancing; executed when it ends."""

    kind: str
    amount: float
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class TokenState:
    """The fund at `at`, marked at `price`; see the module docstring for units."""

    at: datetime
    price: float
    nav: float
    qty: float
    rebalance_price: float
    rebalance_at: datetime
    units: float = 0.0
    busy_until: datetime | None = None
    pending: tuple[PendingRequest, ...] = ()
    split_factor: float = 1.0
    wiped_out: bool = False

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        at: datetime,
        price: float,
        nav: float,
        qty: float,
        rebalance_price: float,
        rebalance_at: datetime,
        units: float = 0.0,
        busy_until: datetime | None = None,
        pending: tuple[PendingRequest, ...] = (),
        split_factor: float = 1.0,
        wiped_out: bool = False,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "nav", nav)
        object.__setattr__(self, "qty", qty)
        object.__setattr__(self, "rebalance_price", rebalance_price)
        object.__setattr__(self, "rebalance_at", rebalance_at)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "busy_until", busy_until)
        object.__setattr__(self, "pending", pending)
        object.__setattr__(self, "split_factor", split_factor)
        object.__setattr__(self, "wiped_out", wiped_out)

    def moved_to(self, at: datetime, price: float, nav: float) -> TokenState:
        """Return this fund at `at`, marked at `price` with NAV `nav` (all else kept)."""
        return TokenState(at, price, nav, self.qty, self.rebalance_price, self.rebalance_at,
                          self.units, self.busy_until, self.pending, self.split_factor,
                          self.wiped_out)  # fmt: skip

    @property
    def exposure(self) -> float:
        """Signed perp notional per unit (USDT)."""
        return self.qty * self.price

    @property
    def leverage(self) -> float:
        """Real leverage λ = qty·S / NAV (0 once wiped out)."""
        return self.exposure / self.nav if self.nav > 0 else 0.0

    @property
    def move(self) -> float:
        """Underlying return since the last rebalance."""
        return self.price / self.rebalance_price - 1

    @property
    def value(self) -> float:
        """The holder's value in USDT: units x NAV."""
        return self.units * self.nav
