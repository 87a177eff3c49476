"""What leveraged-token transitions return besides the new state: ledger records and attribution.

Fee records are the holder's share in USDT (amount > 0 = cost). Trading, slippage, management and
funding records describe costs the fund already took out of `nav_per_unit`: they attribute the
holder's loss of value and must not be charged to the holder's cash a second time. Subscription
and redemption fees are paid by the holder on top of (or out of) NAV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.ledger import FeeRecord, FillRecord, TokenEventRecord, rebase_fees


@dataclass(frozen=True, slots=True)
class StepAttribution:
    """One step of the fund's NAV per unit, split into additive terms (fractions of `nav_before`).

    token_return = market + decay + rebalance_cost + management_fee + funding, where
    market = L·r (target leverage times the underlying return of the step) and
    decay = (λ_start − L)·r, the part due to the real leverage having drifted from the target
    (the path-dependence that compounds into volatility decay). Costs are negative. On a
    wipe-out the move term is -1 and decay absorbs the difference. Reverse splits are excluded:
    they change NAV per unit but not the holder's value.
    """

    at: datetime
    nav_before: float
    underlying_return: float
    market: float
    decay: float
    rebalance_cost: float
    management_fee: float
    funding: float
    token_return: float

    @property
    def residual(self) -> float:
        """Return token_return minus the sum of the terms (0 up to rounding)."""
        terms = self.market + self.decay + self.rebalance_cost + self.management_fee
        return self.token_return - terms - self.funding


@dataclass(frozen=True, slots=True)
class TokenRecords:
    """Records produced by one transition; `fees[i].fill_index` points into `fills`."""

    fills: tuple[FillRecord, ...] = ()
    fees: tuple[FeeRecord, ...] = ()
    events: tuple[TokenEventRecord, ...] = ()
    steps: tuple[StepAttribution, ...] = ()

    def __add__(self, other: TokenRecords) -> TokenRecords:
        base = len(self.fills)
        moved = rebase_fees(other.fees, base)
        return TokenRecords(
            self.fills + other.fills,
            self.fees + moved,
            self.events + other.events,
            self.steps + other.steps,
        )


NO_RECORDS = TokenRecords()
