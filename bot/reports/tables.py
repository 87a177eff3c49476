"""Report tables and verdicts as plain strings, shared by the text, Markdown and HTML renderers.

Number formats: money in USDT with two decimals and thousands separators; returns, drawdowns
and volatility in percent with two decimals; token attribution in log points (100 x ln).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.sqlite.timefmt import format_time
from bot.reports.model import ExperimentReport, PortfolioReport, Report

CONVENTIONS = (
    "Returns are simple NAV returns over the window; ann. return compounds it over 365 days; max "
    "drawdown is taken over every NAV row, time under water (longest stretch below a previous "
    "peak) on the hourly grid; volatility, Sharpe and Sortino come from hourly NAV log returns "
    "(last NAV at or before each hour), annualised with sqrt(365 x 24), risk-free rate and "
    "target 0; Calmar = ann. return / max drawdown. Money is USDT. Signs: in fee and cost "
    "columns a cost is positive (funding received is negative); in the token attribution every "
    "term is signed (a cost is negative). Token attribution is in log points (100 x natural "
    "log): log return = L x the underlying's log return + volatility decay (the residual, "
    "gross of costs) + rebalancing (trading + slippage) + management + net funding + "
    "subscription/redemption, exactly; the estimate is MECHANICS §8.2, -(L^2 - L)/2 x hourly "
    "realised variance."
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
    """A log return as signed log points (100 x ln): -0.12102 -> '-12.10'."""
    return f"{_round(value * 100):+.2f}"


def duration(value: timedelta) -> str:
    """A span in hours below two days, else in days: '5 h', '12 d'."""
    hours = value.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:,.0f} d"


MEASURE_NAMES = {"return": "return", "sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar"}


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
    """Who won: the experiment's portfolios ranked by its measure, with their risk beside."""
    headers = (
        "#", "vehicle", "NAV end", "return", "ann. return", "max DD", "under water",
        "vol (ann.)", "Sharpe", "Sortino", "Calmar", "fills", "stops", "liq.", "rebal.",
        "leverage", "position at end", "died",
    )  # fmt: skip
    rows = tuple(
        (
            str(rank),
            p.vehicle,
            money(p.nav_end),
            pct(p.total_return),
            pct(p.annual_return),
            unsigned_pct(p.max_drawdown),
            duration(p.underwater),
            unsigned_pct(p.volatility),
            ratio(p.sharpe),
            ratio(p.sortino),
            ratio(p.calmar),
            str(p.fills),
            str(p.stops),
            str(p.liquidations),
            str(p.rebalances),
            f"{p.leverage_end:.2f}x",
            position(p),
            "-" if p.died_at is None else f"{p.died_at:%Y-%m-%d %H:%M}",
        )
        for rank, p in enumerate(e.portfolios, 1)
    )
    numeric = (True, False) + (True,) * 14 + (False, False)
    title = f"{e.name}: ranking by {MEASURE_NAMES[e.rank_by]}"
    return TextTable(title, headers, rows, numeric)


def fees_table(e: ExperimentReport) -> TextTable:
    """Fees by kind and funding paid/received, in USDT."""
    headers = (
        "vehicle", "trading", "slippage", "subscription", "redemption", "management",
        "liquidation", "funding paid", "funding received", "funding (net)", "costs excl. funding",
    )  # fmt: skip
    kinds = ("trading", "slippage", "subscription", "redemption", "management", "liquidation")
    rows = tuple(
        (p.vehicle,)
        + tuple(money(p.fees.get(k, 0.0)) for k in kinds)
        + (money(p.funding_paid), money(p.funding_received))
        + (money(p.funding_paid - p.funding_received), money(p.costs))
        for p in e.portfolios
    )
    title = f"{e.name}: fees (USDT, a cost > 0)"
    return TextTable(title, headers, rows, (False,) + (True,) * 10)


def token_table(e: ExperimentReport) -> TextTable | None:
    """The token portfolios' log return against L x the underlying's, in log points."""
    headers = (
        "vehicle", "L (source)", "token", "L x underlying", "gap", "vol. decay", "rebalancing",
        "management", "funding", "sub./red.", "decay estimate", "RV (hourly)", "until",
    )  # fmt: skip
    rows = tuple(
        (
            p.vehicle,
            f"{t.target_leverage:g} ({t.leverage_source})",
            pts(t.token_log),
            pts(t.benchmark_log),
            pts(t.gap),
            pts(t.decay),
            pts(t.rebalancing),
            pts(t.management),
            pts(t.funding),
            pts(t.subscription_redemption),
            pts(t.decay_estimate),
            f"{t.realised_variance:.6f}",
            "end" if t.until is None else f"{t.until:%Y-%m-%d %H:%M} (died)",
        )  # fmt: skip
        for p in e.portfolios
        if (t := p.token) is not None
    )
    if not rows:
        return None
    title = f"{e.name}: token log return against L x the underlying (log points, a cost < 0)"
    return TextTable(title, headers, rows, (False, False) + (True,) * 10 + (False,))


def summary_table(report: Report) -> TextTable:
    """One line per experiment: the winner by the experiment's measure, and the runner-up."""
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
                MEASURE_NAMES[e.rank_by],
                _with_death(first),
                pct(first.total_return),
                unsigned_pct(first.max_drawdown),
                f"{second.vehicle} ({pct(second.total_return)})" if second else "-",
            )  # fmt: skip
        )
    headers = (
        "experiment", "symbol", "strategy", "underlying", "ranked by", "winner", "return",
        "max DD", "runner-up",
    )  # fmt: skip
    numeric = (False, False, False, True, False, False, True, True, False)
    return TextTable("Who won", headers, tuple(rows), numeric)


def _with_death(p: PortfolioReport) -> str:
    return p.vehicle if p.died_at is None else f"{p.vehicle} (died {p.died_at:%Y-%m-%d})"


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
        until = "" if t.until is None else f" (until it died, {t.until:%Y-%m-%d})"
        return (
            f"log return {pts(t.token_log)} log pts{until}, {pts(t.gap)} against "
            f"{t.target_leverage:g}x the underlying ({pts(t.benchmark_log)}): volatility decay "
            f"{pts(t.decay)} (estimate {pts(t.decay_estimate)}), rebalancing "
            f"{pts(t.rebalancing)}, management {pts(t.management)}, funding {pts(t.funding)}, "
            f"subscription/redemption {pts(t.subscription_redemption)}."
        )
    parts = [f"PnL {money(p.pnl)} USDT", f"costs {money(p.costs)} (> 0 a cost)"]
    if p.funding_paid or p.funding_received:
        parts.append(f"funding paid {money(p.funding_paid)}, received {money(p.funding_received)}")
    for count, word in ((p.stops, "stop"), (p.liquidations, "liquidation")):
        if count:
            parts.append(f"{count} {word}{'s' if count > 1 else ''}")
    parts.append(f"max drawdown {unsigned_pct(p.max_drawdown)}")
    return "; ".join(parts) + "."
