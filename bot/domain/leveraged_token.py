"""A synthetic exchange leveraged token: USDT collateral plus a perp position (MECHANICS §0).

Units: `nav` is USDT per token unit; `qty` is the signed perp quantity per unit (base units, short
< 0); `price` is the underlying (perp mark) price in USDT; `units` are the holder's token units.

Fund model (a choice): one fund per holding portfolio. NAV per unit evolves whether or not the
holder owns units, so a later subscription happens at the same NAV a real token would show, and
every fund-level cost is per unit. Fee records carry the holder's share (units x per-unit cost).

Between rebalances `qty` is fixed, so NAV moves linearly in price: N += qty·(S1 − S0). A rebalance
sets the exposure so that λ = L exactly *after* its own trading fee and slippage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.ledger import FeeRecord, FillRecord, TokenEventRecord
from bot.domain.rebalance_rules import RuleContext
from bot.domain.token_records import NO_RECORDS, StepAttribution, TokenRecords
from bot.domain.token_spec import TokenSpec, daily_rule, intraday_rule
from bot.domain.values import FeeKind, FillReason, TokenEventKind

SUBSCRIBE = "subscribe"
REDEEM = "redeem"


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


def new_token(spec: TokenSpec, at: datetime, price: float, nav: float = 1.0) -> TokenState:
    """Launch a fund at `nav` per unit, positioned at the target leverage at `price`."""
    check_time(at)
    _check_price(price)
    if not nav > 0:
        raise ValueError(f"initial nav must be > 0, got {nav}")
    qty = spec.leverage * nav / price
    return TokenState(at, price, nav, qty, price, at)


def on_price(
    spec: TokenSpec, state: TokenState, at: datetime, price: float, *, bar_close: bool = True
) -> tuple[TokenState, TokenRecords]:
    """Mark the fund to one price on the path and apply price-triggered rebalances.

    With `monitoring="continuous"` the intraday rules are checked at every price; with
    "bar_close" only when `bar_close` is True. The given price is also the execution price:
    a jump between two given prices is a gap the fund could not trade inside (assumption), so
    callers wanting continuous monitoring feed a dense enough path.
    """
    checks = spec.monitoring == "continuous" or bar_close
    rule = intraday_rule(spec)
    return _priced(spec, state, at, price, lambda s: checks and rule.fires(_context(spec, s)))


def mark(
    spec: TokenSpec, state: TokenState, at: datetime, price: float
) -> tuple[TokenState, TokenRecords]:
    """Mark the fund to `price` without checking any rebalance rule (before a timed event)."""
    return _priced(spec, state, at, price, lambda _: False)


def apply_daily_rebalance(
    spec: TokenSpec, state: TokenState, at: datetime, price: float
) -> tuple[TokenState, TokenRecords]:
    """Run the scheduled daily reset or check at `at`, marking the fund to `price` first."""
    rule = daily_rule(spec)
    if rule is None:
        raise ValueError(f"preset {spec.family!r} has no daily rebalance")
    return _priced(spec, state, at, price, lambda s: rule.fires(_context(spec, s)))


def rebalance_now(
    spec: TokenSpec, state: TokenState, at: datetime, price: float
) -> tuple[TokenState, TokenRecords]:
    """Mark to `price` and rebalance to the target unconditionally (e.g. a manual reset)."""
    return _priced(spec, state, at, price, lambda _: True)


def _priced(
    spec: TokenSpec,
    state: TokenState,
    at: datetime,
    price: float,
    fires: Callable[[TokenState], bool],
) -> tuple[TokenState, TokenRecords]:
    moved = _move(state, at, price)
    # Requests whose window has ended execute first, so a new rebalance cannot block them again.
    moved, released = release_pending(spec, moved, at)
    if not moved.wiped_out and fires(moved):
        after, records = _rebalance(spec, moved, at)
    else:
        after, records = moved, NO_RECORDS
    step = _price_step(spec, at, state, moved, after)
    return _after_step(spec, after, at, released + records + step)


def apply_funding(
    spec: TokenSpec, state: TokenState, at: datetime, rate: float, mark: float
) -> tuple[TokenState, TokenRecords]:
    """Settle one funding payment into NAV: N ← N − qty·mark·rate (long pays when rate > 0).

    `rate` is the fraction per funding interval; no-op when the preset has no funding
    pass-through (Gate's all-in fee) or the fund is wiped out.
    """
    check_time(at, state.at)
    _check_price(mark)
    if not spec.funding_pass_through or state.wiped_out or rate == 0:
        return replace(state, at=at), NO_RECORDS
    paid = state.qty * mark * rate
    nav = state.nav - paid
    # Funding is settled in cash: an impossible charge beyond the NAV ends the fund at zero.
    after = _wipe(replace(state, at=at)) if nav <= 0 else replace(state, at=at, nav=nav)
    step = _carry_step(at, state, after, funding=True)
    fees = _holder_fee(state, at, FeeKind.FUNDING, paid)
    return after, TokenRecords(fees=fees, steps=(step,))


def apply_management_fee(
    spec: TokenSpec, state: TokenState, at: datetime
) -> tuple[TokenState, TokenRecords]:
    """Take the daily management fee from NAV: N ← N·(1 − m). Only current holders pay."""
    check_time(at, state.at)
    if spec.management_fee_pct == 0 or state.wiped_out:
        return replace(state, at=at), NO_RECORDS
    charged = state.nav * spec.management_fee_pct
    # Assumption: the fee is taken from collateral, so the perp quantity is unchanged.
    after = replace(state, at=at, nav=state.nav - charged)
    step = _carry_step(at, state, after, funding=False)
    fees = _holder_fee(state, at, FeeKind.MANAGEMENT, charged)
    return after, TokenRecords(fees=fees, steps=(step,))


def subscribe(
    spec: TokenSpec, state: TokenState, at: datetime, cash: float
) -> tuple[TokenState, TokenRecords]:
    """Buy units with `cash` USDT at NAV·(1 + fee); deferred (BLOCKED event) while rebalancing."""
    check_time(at, state.at)
    if not cash > 0:
        raise ValueError(f"subscription cash must be > 0, got {cash}")
    if state.wiped_out:
        raise ValueError("cannot subscribe to a wiped-out token")
    if _blocked(state, at):
        return _defer(state, at, PendingRequest(SUBSCRIBE, cash, at))
    return _subscribe_now(spec, replace(state, at=at), at, cash)


def redeem(
    spec: TokenSpec, state: TokenState, at: datetime, units: float
) -> tuple[TokenState, TokenRecords]:
    """Sell `units` to the fund at NAV·(1 − fee); deferred (BLOCKED event) while rebalancing."""
    check_time(at, state.at)
    queued = sum(p.amount for p in state.pending if p.kind == REDEEM)
    if not 0 < units <= state.units - queued + 1e-12 * max(state.units, 1.0):
        raise ValueError(f"cannot redeem {units} units: {state.units - queued} available")
    if _blocked(state, at):
        return _defer(state, at, PendingRequest(REDEEM, units, at))
    return _redeem_now(spec, replace(state, at=at), at, min(units, state.units))


def release_pending(
    spec: TokenSpec, state: TokenState, at: datetime
) -> tuple[TokenState, TokenRecords]:
    """Execute deferred requests, in the order asked, once the rebalance window has ended."""
    check_time(at, state.at)
    if not state.pending or _blocked(state, at):
        return state, NO_RECORDS
    current, records = replace(state, at=at, pending=()), NO_RECORDS
    for request in state.pending:
        if request.kind == REDEEM:
            current, done = _redeem_now(spec, current, at, min(request.amount, current.units))
        elif current.wiped_out:
            continue  # the fund died while the subscription waited: nothing to buy
        else:
            current, done = _subscribe_now(spec, current, at, request.amount)
        records = records + done
    return current, records


def _subscribe_now(
    spec: TokenSpec, state: TokenState, at: datetime, cash: float
) -> tuple[TokenState, TokenRecords]:
    units = cash / (state.nav * (1 + spec.subscription_fee_pct))
    fee = units * state.nav * spec.subscription_fee_pct
    fill = FillRecord(at, spec.label, "buy", units, state.nav, fee, FillReason.SUBSCRIBE)
    fee_record = FeeRecord(at, FeeKind.SUBSCRIPTION, fee, fill_index=0)
    return replace(state, units=state.units + units), TokenRecords((fill,), (fee_record,))


def _redeem_now(
    spec: TokenSpec, state: TokenState, at: datetime, units: float
) -> tuple[TokenState, TokenRecords]:
    fee = units * state.nav * spec.redemption_fee_pct
    fill = FillRecord(at, spec.label, "sell", units, state.nav, fee, FillReason.REDEEM)
    fee_record = FeeRecord(at, FeeKind.REDEMPTION, fee, fill_index=0)
    # Guard against a float remainder: redeeming everything leaves exactly zero units.
    left = max(state.units - units, 0.0) if units < state.units else 0.0
    return replace(state, units=left), TokenRecords((fill,), (fee_record,))


def _defer(
    state: TokenState, at: datetime, request: PendingRequest
) -> tuple[TokenState, TokenRecords]:
    # notional_traded carries the request size (USDT for a subscription, units for a redemption).
    event = TokenEventRecord(
        at, TokenEventKind.BLOCKED, state.leverage, state.leverage, state.nav, request.amount
    )
    after = replace(state, at=at, pending=state.pending + (request,))
    return after, TokenRecords(events=(event,))


def _blocked(state: TokenState, at: datetime) -> bool:
    return state.busy_until is not None and at < state.busy_until


def _move(state: TokenState, at: datetime, price: float) -> TokenState:
    check_time(at, state.at)
    _check_price(price)
    if state.wiped_out:
        return replace(state, at=at, price=price)
    nav = state.nav + state.qty * (price - state.price)
    moved = replace(state, at=at, price=price, nav=nav)
    # A gap beyond 1/|λ| cannot make NAV negative: the fund ends at 0, wiped out.
    return _wipe(moved) if nav <= 0 else moved


def _wipe(state: TokenState) -> TokenState:
    return replace(state, nav=0.0, qty=0.0, wiped_out=True)


def _context(spec: TokenSpec, state: TokenState) -> RuleContext:
    return RuleContext(state.leverage, spec.leverage, state.move)


def _rebalance(spec: TokenSpec, state: TokenState, at: datetime) -> tuple[TokenState, TokenRecords]:
    cost_rate = spec.rebalance_fee_pct + spec.slippage_pct
    exposure = _target_exposure(spec.leverage, state.nav, state.exposure, cost_rate)
    traded = abs(exposure - state.exposure)
    nav = state.nav - traded * cost_rate
    busy = at + timedelta(minutes=spec.rebalance_minutes) if spec.rebalance_minutes else None
    after = replace(
        state,
        nav=nav,
        qty=exposure / state.price,
        rebalance_price=state.price,
        rebalance_at=at,
        busy_until=busy if busy is not None else state.busy_until,
    )
    event = TokenEventRecord(
        at, TokenEventKind.REBALANCE, state.leverage, after.leverage, nav, traded
    )
    fees = _holder_fee(state, at, FeeKind.TRADING, traded * spec.rebalance_fee_pct)
    fees += _holder_fee(state, at, FeeKind.SLIPPAGE, traded * spec.slippage_pct)
    return after, TokenRecords(fees=fees, events=(event,))


def _target_exposure(target: float, nav: float, current: float, cost_rate: float) -> float:
    gap = target * nav - current
    if abs(gap) <= 1e-12 * max(abs(current), nav):
        return current  # already on target: nothing to trade, nothing to pay
    direction = math.copysign(1.0, gap)
    # Solve x = L·(N − c·|x − a|) so that λ = L holds after the fund pays its own costs.
    denominator = 1 + target * cost_rate * direction
    exposure = target * (nav + cost_rate * direction * current) / denominator
    if denominator <= 0 or (exposure - current) * direction < 0:
        raise ValueError(f"rebalance costs {cost_rate} too high for leverage {target}")
    return exposure


def _after_step(
    spec: TokenSpec, state: TokenState, at: datetime, records: TokenRecords
) -> tuple[TokenState, TokenRecords]:
    state, split = _maybe_split(spec, state, at)
    state, released = release_pending(spec, state, at)
    return state, records + split + released


def _maybe_split(
    spec: TokenSpec, state: TokenState, at: datetime
) -> tuple[TokenState, TokenRecords]:
    threshold = spec.split_threshold_nav
    if threshold is None or state.wiped_out or state.nav >= threshold:
        return state, NO_RECORDS
    # Reverse split k:1: NAV x k, units / k, and each new unit holds k old units' position.
    k = spec.split_ratio
    after = replace(
        state,
        nav=state.nav * k,
        qty=state.qty * k,
        units=state.units / k,
        split_factor=state.split_factor * k,
        pending=tuple(
            replace(p, amount=p.amount / k) if p.kind == REDEEM else p for p in state.pending
        ),
    )
    event = TokenEventRecord(
        at, TokenEventKind.REVERSE_SPLIT, state.leverage, after.leverage, after.nav, 0.0
    )
    return after, TokenRecords(events=(event,))


def _holder_fee(
    state: TokenState, at: datetime, kind: FeeKind, per_unit: float
) -> tuple[FeeRecord, ...]:
    if state.units == 0 or per_unit == 0:
        return ()
    return (FeeRecord(at, kind, state.units * per_unit),)


def _price_step(
    spec: TokenSpec, at: datetime, before: TokenState, moved: TokenState, after: TokenState
) -> TokenRecords:
    if before.wiped_out:
        return NO_RECORDS
    n0, r = before.nav, moved.price / before.price - 1
    market = spec.leverage * r
    decay = (moved.nav - n0) / n0 - market
    cost = (after.nav - moved.nav) / n0
    total = (after.nav - n0) / n0
    return TokenRecords(steps=(StepAttribution(at, n0, r, market, decay, cost, 0.0, 0.0, total),))


def _carry_step(
    at: datetime, before: TokenState, after: TokenState, *, funding: bool
) -> StepAttribution:
    change = (after.nav - before.nav) / before.nav
    fee, paid = (0.0, change) if funding else (change, 0.0)
    return StepAttribution(at, before.nav, 0.0, 0.0, 0.0, 0.0, fee, paid, change)


def check_time(at: datetime, previous: datetime | None = None) -> None:
    """Raise ValueError unless `at` is UTC-aware and not before `previous`."""
    if at.tzinfo is None or at.utcoffset() != timedelta(0):
        raise ValueError(f"time must be timezone-aware UTC, got {at!r}")
    if previous is not None and at < previous:
        raise ValueError(f"time went backwards: {at.isoformat()} < {previous.isoformat()}")


def _check_price(price: float) -> None:
    if not price > 0 or price == float("inf"):
        raise ValueError(f"price must be a finite number > 0, got {price}")
