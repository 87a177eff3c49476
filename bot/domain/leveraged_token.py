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

from collections.abc import Sequence
from datetime import datetime, timedelta
from math import inf

from bot.domain.frozen import evolve
from bot.domain.price_path import PricePoint, check_price, check_time
from bot.domain.rebalance_rules import Always, AnyOf, Rule, RuleContext, target_exposure
from bot.domain.records import FeeRecord, FillRecord, TokenEventRecord
from bot.domain.token_records import NO_RECORDS, TokenRecords, holder_fee, price_step
from bot.domain.token_spec import (
    QuietZone,
    TokenSpec,
    daily_rule,
    exit_price,
    in_zone,
    intraday_rule,
    quiet_zone,
)
from bot.domain.token_state import PendingRequest as PendingRequest
from bot.domain.token_state import TokenState as TokenState
from bot.domain.values import FeeKind, FillReason, TokenEventKind

_ALWAYS, _NEVER = Always(), AnyOf()
# Rebalances per price at most: a guard for a target a rounding error inside its bound.
MAX_CROSSINGS = 10_000
SUBSCRIBE = "subscribe"
REDEEM = "redeem"


def new_token(spec: TokenSpec, at: datetime, price: float, nav: float = 1.0) -> TokenState:
    """Launch a fund at `nav` per unit, positioned at the target leverage at `price`."""
    check_time(at)
    check_price(price)
    if not nav > 0:
        raise ValueError(f"initial nav must be > 0, got {nav}")
    qty = spec.leverage * nav / price
    return TokenState(at, price, nav, qty, price, at)


def on_price(
    spec: TokenSpec,
    state: TokenState,
    at: datetime,
    price: float,
    *,
    bar_close: bool = True,
    gap: bool = False,
) -> tuple[TokenState, TokenRecords]:
    """Mark the fund to the next price of the path and apply price-triggered rebalances.

    "continuous": the move from the fund's price to `price` is continuous unless `gap` (a tick
    or a bar's open, not tradable inside: assumption); a rule firing on the way rebalances at the
    price where its threshold is crossed (`exit_price`, plus the preset's slippage), each time
    one is; a fund already out of its zone (after funding) rebalances first at its own price.
    "bar_close" (and `always_rebalance`) check the rules at `price` (if `bar_close`) only.
    """
    if spec.monitoring == "continuous" and not spec.always_rebalance:
        return _crossing(spec, state, at, price, gap)
    rule = intraday_rule(spec) if spec.monitoring == "continuous" or bar_close else _NEVER
    return _after_step(spec, at, *_step(spec, state, at, price, rule))


def _crossing(
    spec: TokenSpec, state: TokenState, at: datetime, price: float, gap: bool
) -> tuple[TokenState, TokenRecords]:
    zone, records, crossed = quiet_zone(spec), NO_RECORDS, False
    # A pass rebalances once, back inside the zone (the target lies strictly inside it).
    for _ in range(MAX_CROSSINGS):
        if state.wiped_out:
            break
        qty, nav, ref, here = state.qty, state.nav, state.rebalance_price, state.price
        if in_zone(zone, nav, qty, here, ref):
            if in_zone(zone, nav + qty * (price - here), qty, price, ref):
                break
            here = price if gap else exit_price(zone, nav, qty, here, ref, price)
        state, done = _step(spec, state, at, here, _ALWAYS)
        records, crossed = records + done, True
    if not (crossed and state.price == price):
        state, done = _step(spec, state, at, price, _NEVER)
        records += done
    return _after_step(spec, at, state, records)


def mark(
    spec: TokenSpec, state: TokenState, at: datetime, price: float
) -> tuple[TokenState, TokenRecords]:
    """Mark the fund to `price` without checking any rebalance rule (before a timed event)."""
    return _after_step(spec, at, *_step(spec, state, at, price, _NEVER))


def apply_daily_rebalance(
    spec: TokenSpec, state: TokenState, at: datetime, price: float
) -> tuple[TokenState, TokenRecords]:
    """Run the scheduled daily reset or check at `at`, marking the fund to `price` first."""
    rule = daily_rule(spec)
    if rule is None:
        raise ValueError(f"preset {spec.family!r} has no daily rebalance")
    return _after_step(spec, at, *_step(spec, state, at, price, rule))


def _step(
    spec: TokenSpec, state: TokenState, at: datetime, price: float, rule: Rule
) -> tuple[TokenState, TokenRecords]:
    moved = _move(state, at, price)
    # Requests whose window has ended execute first, so a new rebalance cannot block them again.
    moved, released = release_pending(spec, moved, at)
    fires = rule is not _NEVER and not moved.wiped_out  # (no context to build for _NEVER)
    if fires and rule.fires(RuleContext(moved.leverage, spec.leverage, moved.move)):
        after, records = _rebalance(spec, moved, at)
    else:
        after, records = moved, NO_RECORDS
    return after, released + records + price_step(spec, at, state, moved, after)


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
    return _subscribe_now(spec, evolve(state, at=at), at, cash)


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
    return _redeem_now(spec, evolve(state, at=at), at, min(units, state.units))


def release_pending(
    spec: TokenSpec, state: TokenState, at: datetime
) -> tuple[TokenState, TokenRecords]:
    """Execute deferred requests, in the order asked, once the rebalance window has ended."""
    check_time(at, state.at)
    if not state.pending or _blocked(state, at):
        return state, NO_RECORDS
    current, records = evolve(state, at=at, pending=()), NO_RECORDS
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
    return evolve(state, units=state.units + units), TokenRecords((fill,), (fee_record,))


def _redeem_now(
    spec: TokenSpec, state: TokenState, at: datetime, units: float
) -> tuple[TokenState, TokenRecords]:
    fee = units * state.nav * spec.redemption_fee_pct
    fill = FillRecord(at, spec.label, "sell", units, state.nav, fee, FillReason.REDEEM)
    fee_record = FeeRecord(at, FeeKind.REDEMPTION, fee, fill_index=0)
    # Guard against a float remainder: redeeming everything leaves exactly zero units.
    left = max(state.units - units, 0.0) if units < state.units else 0.0
    return evolve(state, units=left), TokenRecords((fill,), (fee_record,))


def _defer(
    state: TokenState, at: datetime, request: PendingRequest
) -> tuple[TokenState, TokenRecords]:
    # notional_traded carries the request size (USDT for a subscription, units for a redemption).
    event = TokenEventRecord(
        at, TokenEventKind.BLOCKED, state.leverage, state.leverage, state.nav, request.amount
    )
    after = evolve(state, at=at, pending=state.pending + (request,))
    return after, TokenRecords(events=(event,))


def _blocked(state: TokenState, at: datetime) -> bool:
    return state.busy_until is not None and at < state.busy_until


def _move(state: TokenState, at: datetime, price: float) -> TokenState:
    check_time(at, state.at)
    check_price(price)
    if state.wiped_out:
        return state.moved_to(at, price, state.nav)
    nav = state.nav + state.qty * (price - state.price)
    moved = state.moved_to(at, price, nav)
    # A gap beyond 1/|λ| cannot make NAV negative: the fund ends at 0, wiped out.
    return wipe(moved) if nav <= 0 else moved


def wipe(state: TokenState) -> TokenState:
    """Return the fund ended at NAV 0 with no position (wiped out)."""
    return evolve(state, nav=0.0, qty=0.0, wiped_out=True)


class Drift:
    """A fund between transitions that do more than re-price it: `on_price` there only sets
    `at`, `price` and `nav = nav + qty·(price − previous)`, so a Drift keeps those three numbers
    (`walk_quiet` moves them) and builds the same `TokenState` only when asked. `bounds` is
    None when the fund cannot take that fast path (wiped out, request deferred, out of zone)."""

    __slots__ = ("base", "at", "price", "nav", "bounds")

    def __init__(self, spec: TokenSpec, zone: QuietZone, base: TokenState) -> None:
        self.base, self.at, self.price, self.nav = base, base.at, base.price, base.nav
        # Below the floor a reverse split is due (NAV <= 0: a wipe-out): on_price decides.
        floor, live = spec.split_threshold_nav or 0.0, not (base.wiped_out or base.pending)
        if live and zone.continuous:
            live = in_zone(zone, base.nav, base.qty, base.price, base.rebalance_price)
        quiet = (zone.continuous, zone.lev_lo, zone.lev_hi, zone.move_lo, zone.move_hi)
        terms = (base.qty, abs(base.qty), floor, base.rebalance_price)
        self.bounds = (*terms, *quiet) if live else None

    def state(self) -> TokenState:
        """Return the fund as `on_price` point by point would have left it."""
        base = self.base
        if self.at is not base.at or self.price != base.price or self.nav != base.nav:
            base = self.base = base.moved_to(self.at, self.price, self.nav)
        return base


def walk_quiet(funds: Sequence[Drift], points: Sequence[PricePoint], start: int, end: int) -> int:
    """Move one fund or two (a token's sides, in one pass: most of a replay's time) along
    points[start:end] while `on_price` only re-prices them; return the first index where one may
    act (`end` if none): NAV <= 0 or under the split floor, or, where rules are checked, |λ| or
    the move outside the `QuietZone`. `_move`'s arithmetic and `on_price`'s tests, negated."""
    if not 0 < len(funds) <= 2:
        raise ValueError(f"walk_quiet takes one or two funds, got {len(funds)}")
    a, b = funds[0], funds[-1]  # a single fund walks as both
    if a.bounds is None or b.bounds is None:
        return start
    qty_a, size_a, floor_a, ref_a, cont_a, lev_lo_a, lev_hi_a, move_lo_a, move_hi_a = a.bounds
    qty_b, size_b, floor_b, ref_b, cont_b, lev_lo_b, lev_hi_b, move_lo_b, move_hi_b = b.bounds
    # |qty x mark / NAV| is |qty| x mark / NAV exactly (mark and NAV > 0: only the sign differs).
    when, price_a, nav_a, price_b, nav_b = max(a.at, b.at), a.price, a.nav, b.price, b.nav
    stop = end
    for i in range(start, end):
        at, _, mark, _, bar_close = points[i]
        if not (at >= when and 0.0 < mark < inf):
            stop = i
            break
        moved_a = nav_a + qty_a * (mark - price_a)
        moved_b = nav_b + qty_b * (mark - price_b)
        if not (
            moved_a > 0.0
            and moved_a >= floor_a
            and moved_b > 0.0
            and moved_b >= floor_b
            and (
                not (bar_close or cont_a)
                or lev_lo_a < size_a * mark / moved_a < lev_hi_a
                and move_lo_a < mark / ref_a - 1 < move_hi_a
            )
            and (
                not (bar_close or cont_b)
                or lev_lo_b < size_b * mark / moved_b < lev_hi_b
                and move_lo_b < mark / ref_b - 1 < move_hi_b
            )
        ):
            stop = i
            break
        when = at
        price_a = price_b = mark
        nav_a, nav_b = moved_a, moved_b
    if stop > start:
        a.at, a.price, a.nav = when, price_a, nav_a
        b.at, b.price, b.nav = when, price_b, nav_b
    return stop


def _rebalance(spec: TokenSpec, state: TokenState, at: datetime) -> tuple[TokenState, TokenRecords]:
    cost_rate = spec.rebalance_fee_pct + spec.slippage_pct
    exposure = target_exposure(spec.leverage, state.nav, state.exposure, cost_rate)
    traded = abs(exposure - state.exposure)
    nav = state.nav - traded * cost_rate
    minutes = spec.rebalance_minutes
    busy = at + timedelta(minutes=minutes) if minutes else state.busy_until
    qty = exposure / state.price
    after = evolve(
        state, nav=nav, qty=qty, rebalance_price=state.price, rebalance_at=at, busy_until=busy
    )
    event = TokenEventRecord(
        at, TokenEventKind.REBALANCE, state.leverage, after.leverage, nav, traded
    )
    fees = holder_fee(state, at, FeeKind.TRADING, traded * spec.rebalance_fee_pct)
    fees += holder_fee(state, at, FeeKind.SLIPPAGE, traded * spec.slippage_pct)
    return after, TokenRecords(fees=fees, events=(event,))


def _after_step(
    spec: TokenSpec, at: datetime, state: TokenState, records: TokenRecords
) -> tuple[TokenState, TokenRecords]:
    threshold = spec.split_threshold_nav
    if threshold is not None and not state.wiped_out and state.nav < threshold:
        state, split = _split(spec, state, at)
        records += split
    state, released = release_pending(spec, state, at)
    return state, records + released


def _split(spec: TokenSpec, state: TokenState, at: datetime) -> tuple[TokenState, TokenRecords]:
    # Reverse split k:1: NAV x k, units / k, and each new unit holds k old units' position.
    k = spec.split_ratio
    pending = [evolve(p, amount=p.amount / k) if p.kind == REDEEM else p for p in state.pending]
    after = evolve(
        state,
        nav=state.nav * k,
        qty=state.qty * k,
        units=state.units / k,
        split_factor=state.split_factor * k,
        pending=tuple(pending),
    )
    event = TokenEventRecord(
        at, TokenEventKind.REVERSE_SPLIT, state.leverage, after.leverage, after.nav, 0.0
    )
    return after, TokenRecords(events=(event,))
