"""Report tables and verdicts as plain strings, shared by the text, Markdown and HTML renderers.

Number formats: money in USDT with two decimals and thousands separators; returns, drawdowns
and volatility in percent with two decimals; contributions to a gap in percentage points.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.sqlite.timefmt import format_time
from bot.reports.model import ExperimentReport, PortfolioReport, Report

CONVENTIONS = (
    "Returns are simple NAV returns over the window; max drawdown is taken over every NAV row; "
    "volatility and Sharpe come from hourly NAV log returns (last NAV at or before each hour), "
    "annualised with sqrt(365 x 24), risk-free rate 0. Money is USDT; a fee > 0 is a cost. "
    "Token gap: return minus L x the underlying's return (a static position of the same "
    "leverage), split into volatility decay (the residual, gross of costs), rebalancing cost "
    "(trading + slippage), management fee, net funding and subscription/redemption fees, in "
    "percentage points of the start NAV; the estimate is MECHANICS §8 from hourly realised "
    "variance: (1 + L r)(exp(-(L^2 - L)/2 (RV - ln(1 + r)^2)) - 1)."
)


@dataclass(frozen=True, slots=True)
class TextTable:
    """A table of preformatted cells; `numeric[i]` says whether column i is right-aligned."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]


def pct(value: float | None) -> str:
    """A fraction as a signed percentage: 0.11898 -> '+11.90 %'; None -> 'n/a'."""
    return "n/a" if value is None else f"{_round(value * 100):+.2f} %"


def unsigned_pct(value: float | None) -> str:
    """A non-negative fraction (drawdown, volatility) as a percentage: 0.1 -> '10.00 %'."""
    return "n/a" if value is None else f"{_round(value * 100):.2f} %"


def pts(value: float) -> str:
    """A return fraction as signed percentage points: -0.12102 -> '-12.10'."""
    return f"{_round(value * 100):+.2f}"


def _round(value: float) -> float:
    # Round first and add 0.0 so that a tiny negative prints as +0.00, not -0.00.
    return round(value, 2) + 0.0


def money(value: float) -> str:
    """USDT with thousands separators and two decimals."""
    return f"{value:,.2f}"


def ratio(value: float | None) -> str:
    """A plain ratio with two decimals; None -> 'n/a'."""
    return "n/a" if value is None else f"{value:.2f}"


def period_line(report: Report) -> str:
    """The window in UTC and the timezone that defines its days."""
    p = report.period
    return (
        f"Window {format_time(p.start)} to {format_time(p.end)} (local days in {p.timezone}; "
        "NAV at the start and the end, events after the start up to the end)."
    )


def position(p: PortfolioReport) -> str:
    """The open position at the end: the ledger's open positions, else the NAV exposure."""
    if p.open_positions:
        return "; ".join(
            f"{o.side} {o.qty:g} @ {o.entry:g}"
            + (f" stop {o.stop:g}" if o.stop is not None else "")
            for o in p.open_positions
        )
    if p.exposure_end == 0:
        return "flat"
    side = "long" if p.exposure_end > 0 else "short"
    return f"{side} {money(abs(p.exposure_end))} USDT"


def ranking_table(e: ExperimentReport) -> TextTable:
    """Who won: the experiment's portfolios ranked by return."""
    headers = (
        "#", "vehicle", "NAV start", "NAV end", "return", "max DD", "vol (ann.)", "Sharpe",
        "fills", "stops", "liq.", "rebal.", "splits", "leverage", "position at end", "died",
    )  # fmt: skip
    rows = tuple(
        (
            str(rank),
            p.vehicle,
            money(p.nav_start),
            money(p.nav_end),
            pct(p.total_return),
            unsigned_pct(p.max_drawdown),
            unsigned_pct(p.volatility),
            ratio(p.sharpe),
            str(p.fills),
            str(p.stops),
            str(p.liquidations),
            str(p.rebalances),
            str(p.reverse_splits),
            f"{p.leverage_end:.2f}x",
            position(p),
            "-" if p.died_at is None else f"{p.died_at:%Y-%m-%d %H:%M}",
        )
        for rank, p in enumerate(e.portfolios, 1)
    )
    numeric = (True, False) + (True,) * 12 + (False, False)
    return TextTable(f"{e.name}: ranking", headers, rows, numeric)


def fees_table(e: ExperimentReport) -> TextTable:
    """Fees by kind and funding paid/received, in USDT."""
    headers = (
        "vehicle", "trading", "slippage", "subscription", "redemption", "management",
        "liquidation", "funding paid", "funding received", "costs excl. funding",
    )  # fmt: skip
    kinds = ("trading", "slippage", "subscription", "redemption", "management", "liquidation")
    rows = tuple(
        (p.vehicle,)
        + tuple(money(p.fees.get(k, 0.0)) for k in kinds)
        + (money(p.funding_paid), money(p.funding_received), money(p.costs))
        for p in e.portfolios
    )
    return TextTable(f"{e.name}: fees (USDT)", headers, rows, (False,) + (True,) * 9)


def token_table(e: ExperimentReport) -> TextTable | None:
    """The token portfolios' gap to L x the underlying, in percentage points (None if none)."""
    headers = (
        "vehicle", "L (source)", "token", "L x underlying", "gap", "vol. decay", "rebalancing",
        "management", "funding", "sub./red.", "decay estimate", "RV (hourly)",
    )  # fmt: skip
    rows = tuple(
        (
            p.vehicle,
            f"{t.target_leverage:g} ({t.leverage_source})",
            pts(t.token_return),
            pts(t.benchmark_return),
            pts(t.gap),
            pts(t.decay),
            pts(t.rebalancing),
            pts(t.management),
            pts(t.funding),
            pts(t.subscription_redemption),
            pts(t.decay_estimate),
            f"{t.realised_variance:.6f}",
        )  # fmt: skip
        for p in e.portfolios
        if (t := p.token) is not None
    )
    if not rows:
        return None
    title = f"{e.name}: token gap to L x underlying (percentage points)"
    return TextTable(title, headers, rows, (False, False) + (True,) * 10)


def summary_table(report: Report) -> TextTable:
    """One line per experiment: the winner, its return, and the runner-up."""
    rows = []
    for e in report.experiments:
        first = e.portfolios[0]
        second = e.portfolios[1] if len(e.portfolios) > 1 else None
        rows.append(
            (
                e.name,
                e.symbol,
                e.strategy,
                pct(e.underlying_return),
                first.vehicle,
                pct(first.total_return),
                f"{second.vehicle} ({pct(second.total_return)})" if second else "-",
            )  # fmt: skip
        )
    headers = ("experiment", "symbol", "strategy", "underlying", "winner", "return", "runner-up")
    numeric = (False, False, False, True, False, True, False)
    return TextTable("Who won", headers, tuple(rows), numeric)


def verdicts(e: ExperimentReport) -> list[str]:
    """One sentence per portfolio saying why it ended where it did, whether it died, and the
    entries it refused."""
    return [f"{p.vehicle} ({pct(p.total_return)}): {_why(p)}{_fate(p)}" for p in e.portfolios]


def _fate(p: PortfolioReport) -> str:
    parts = []
    if p.died_at is not None:
        parts.append(f"Died {p.died_at:%Y-%m-%d %H:%M} UTC: {p.death_cause}.")
    if p.refused:
        counts = ", ".join(f"{reason} {n:,}" for reason, n in sorted(p.refused.items()))
        parts.append(f"Entries refused: {counts}.")
    return "".join(" " + part for part in parts)


def _why(p: PortfolioReport) -> str:
    if (t := p.token) is not None:
        return (
            f"{pts(t.gap)} pts against {t.target_leverage:g}x the underlying "
            f"({pts(t.benchmark_return)}): volatility decay {pts(t.decay)} "
            f"(estimate {pts(t.decay_estimate)}), rebalancing {pts(t.rebalancing)}, "
            f"management {pts(t.management)}, funding {pts(t.funding)}, "
            f"subscription/redemption {pts(t.subscription_redemption)}."
        )
    parts = [f"PnL {money(p.pnl)} USDT", f"costs {money(p.costs)}"]
    if p.funding_paid or p.funding_received:
        parts.append(f"funding paid {money(p.funding_paid)}, received {money(p.funding_received)}")
    for count, word in ((p.stops, "stop"), (p.liquidations, "liquidation")):
        if count:
            parts.append(f"{count} {word}{'s' if count > 1 else ''}")
    parts.append(f"max drawdown {unsigned_pct(p.max_drawdown)}")
    return "; ".join(parts) + "."
