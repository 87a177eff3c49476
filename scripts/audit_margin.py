"""Audit the isolated-margin money of a ledger: what no exchange allows must not be in it.

    python scripts/audit_margin.py replay.db

For every `perp` and `perp_static` portfolio (isolated margin, MECHANICS §9):
- every NAV row is >= 0;
- every position has an isolated margin and a liquidation price (never NULL);
- no closed position lost more than its margin plus its trading fees and slippage (bounded by
  the vehicle's fee and slippage rates on the entry and exit notionals);
- the accounting identity of DESIGN.md holds to the cent at every NAV row whose time no ledger
  event shares: capital + cash flow of the fills at executed prices + slippage fee rows + the
  open quantity at the row's price - every fee row = NAV. (An event stamped at a NAV row's time
  may belong to that step or to the next one, whose bar opens then, so such rows are left to
  the next clean row: an error that stays shows there, and the last row is always checked.)

Prints one line per violation (at most 20 per kind) and exits 1 when there is any, 0 when
the ledger is clean, 2 when the file is not a readable ledger.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path

TAKER_FEE = 0.0005  # the offline USDⓈ-M taker fee (bot.domain.sizing); a bound, not a rate used
CENT = 0.01


def audit(db: Path) -> list[str]:
    """Every violation found in the ledger at `db` (empty when clean)."""
    problems: list[str] = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT p.id, p.capital, v.params FROM portfolios p "
            "JOIN vehicle_params v ON v.portfolio_id = p.id "
            "WHERE p.vehicle LIKE 'perp:%' OR p.vehicle LIKE 'perp_static:%'"
        ).fetchall()
        for pid, capital, params in rows:
            slip = json.loads(params)["params"].get("slippage_bps", 0.0) / 10_000.0
            problems += _negative_navs(conn, pid)
            problems += _positions(conn, pid, TAKER_FEE + 2.0 * slip)
            problems += _identity(conn, pid, capital)
    return problems


def _negative_navs(conn: sqlite3.Connection, pid: str) -> list[str]:
    found = conn.execute(
        "SELECT at, nav FROM nav WHERE portfolio_id = ? AND nav < 0 ORDER BY at LIMIT 20", [pid]
    ).fetchall()
    return [f"{pid}: NAV {nav:.2f} < 0 at {at}" for at, nav in found]


def _positions(conn: sqlite3.Connection, pid: str, cost_rate: float) -> list[str]:
    out = []
    for pos_id, margin, liq, qty, entry, exit_price, pnl in conn.execute(
        "SELECT id, margin, liq_price, qty, entry, exit_price, pnl FROM positions "
        "WHERE portfolio_id = ? ORDER BY opened_at",
        [pid],
    ):
        if margin is None or liq is None:
            out.append(f"{pos_id}: margin {margin} or liquidation price {liq} is NULL")
            continue
        if pnl is None or exit_price is None:
            continue
        bound = margin + qty * (entry + exit_price) * cost_rate
        if -pnl > bound + CENT:
            out.append(
                f"{pos_id}: lost {-pnl:.2f} > margin {margin:.2f} + fees (bound {bound:.2f})"
            )
    return out[:20]


def _identity(conn: sqlite3.Connection, pid: str, capital: float) -> list[str]:
    # Cumulative sums of the ledger's events, in time order, against each NAV row.
    events = sorted(_events(conn, pid))
    times = [e[0] for e in events]
    stamped = set(times)
    navs = conn.execute(
        "SELECT at, nav, price FROM nav WHERE portfolio_id = ? ORDER BY at", [pid]
    ).fetchall()
    out: list[str] = []
    cash, held, i = capital, 0.0, 0
    for n, (at, nav, price) in enumerate(navs):
        last = n == len(navs) - 1
        if at in stamped and not last:
            continue
        end = len(events) if last else bisect_left(times, at)
        for _, d_cash, d_held in events[i:end]:
            cash, held = cash + d_cash, held + d_held
        i = max(i, end)
        explained = cash + held * price
        if abs(explained - nav) > CENT:
            out.append(f"{pid}: NAV {nav:.2f} at {at}, the ledger explains {explained:.2f}")
            if len(out) >= 20:
                break
    return out


def _events(conn: sqlite3.Connection, pid: str) -> Iterator[tuple[str, float, float]]:
    # (at, change of cash, change of the held quantity): fills at executed prices, fee rows
    # as costs, and slippage fee rows back (the executed price already holds the slippage).
    for at, side, qty, price in conn.execute(
        "SELECT at, side, qty, price FROM fills WHERE portfolio_id = ?", [pid]
    ):
        sign = 1.0 if side == "buy" else -1.0
        yield at, -sign * qty * price, sign * qty
    for at, kind, amount in conn.execute(
        "SELECT at, kind, amount FROM fees WHERE portfolio_id = ?", [pid]
    ):
        yield at, 0.0 if kind == "slippage" else -amount, 0.0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: audit_margin.py LEDGER.db", file=sys.stderr)
        return 2
    db = Path(argv[0])
    try:
        problems = audit(db)
    except sqlite3.Error as exc:
        print(f"error: {db}: not a readable ltbot ledger ({exc})", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    print(f"{db}: {len(problems)} problems" if problems else f"{db}: clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
