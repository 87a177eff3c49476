"""The replay/demo summary table follows the report's sign convention: a cost is positive."""

from __future__ import annotations

import io
import re

from rich.console import Console

from bot.adapters.sqlite.store import Store
from bot.reports.comparison import print_comparison


def test_funding_is_the_net_cost(ledger: Store) -> None:
    buffer = io.StringIO()
    print_comparison(ledger, Console(file=buffer, width=200, color_system=None))
    rows = [
        [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]
        for line in buffer.getvalue().splitlines()
        if line.startswith(("│", "┃"))
    ]
    assert rows[0][:5] == ["vehicle", "NAV", "return", "fees", "funding"]
    by_vehicle = {row[0]: row for row in rows}
    # Every ledger row counts here (not only one day): the token paid 3 and received 1.5
    # (+1.50 net cost); the perp only received 0.2 (-0.20); its fees 2.77 + 1.4 = 4.17.
    assert by_vehicle["token:ftx"][4] == "1.50"
    assert by_vehicle["perp:risk_pct=0.02"][3:5] == ["4.17", "-0.20"]
