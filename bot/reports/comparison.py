"""End-of-run comparison table (replay and demo): who won, per experiment.

Sign convention (docs/REPORTS.md): costs are positive in cost columns; `fees` excludes funding
and `funding` is the net funding paid (< 0: received on balance).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.adapters.sqlite.queries import LedgerQueries


def comparison_rows(store: LedgerQueries) -> dict[str, list[dict[str, Any]]]:
    """Portfolio summaries grouped by experiment, best return first."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    rows = store.portfolio_summaries()
    for experiment, members in groupby(rows, key=lambda r: r["experiment"]):
        ranked = []
        for row in members:
            nav = row["nav"] if row["nav"] is not None else row["capital"]
            ranked.append({**row, "nav": nav, "return": nav / row["capital"] - 1})
        grouped[experiment] = sorted(ranked, key=lambda r: (-r["return"], r["id"]))
    return grouped


def print_comparison(store: LedgerQueries, console: Console) -> None:
    """Print one ranked table per experiment."""
    for experiment, rows in comparison_rows(store).items():
        table = Table(title=f"{experiment} ({rows[0]['symbol']})", title_justify="left")
        for column in (
            "vehicle",
            "NAV",
            "return",
            "fees",
            "funding",
            "fills",
            "stops",
            "liq.",
            "rebal.",
            "lev.",
        ):
            table.add_column(column, justify="left" if column == "vehicle" else "right")
        for row in rows:
            table.add_row(
                row["vehicle"],
                f"{row['nav']:,.2f}",
                f"{row['return']:+.2%}",
                f"{row['fees']:,.2f}",
                f"{row['funding']:,.2f}",
                str(row["fills"]),
                str(row["stops"]),
                str(row["liquidations"]),
                str(row["rebalances"]),
                f"{row['leverage'] or 0:.2f}",
            )
        console.print(table)
