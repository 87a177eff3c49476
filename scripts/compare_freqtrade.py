"""ltbot's trades against freqtrade's backtester, trade by trade, on the 5m window.

    .venv/bin/python scripts/compare_freqtrade.py [--ft-ratio R] [--out DIR] [--ledger DB]

1. `freqtrade backtesting` (scripts/bench_freqtrade.py: its own venv, markets from ltbot's sim
   exchange, strategy scripts/freqtrade_bench/SmaCrossFt.py, 5m detail) with its trades
   exported;
2. `ltbot replay` of the same 5m candles with the same 1h mark and funding files, twice:
   `fill = "close"` and `fill = "next_open"`, strategy sma_cross_stop (SmaCrossFt in ltbot's
   API, scripts/freqtrade_bench/ltbot_side/) on one `perp` vehicle sized like freqtrade's stake;
3. trades matched by entry time and side: entry/exit time, price, size, trading fees, funding;
   a summary with the first mismatches and their reasons, and the final balances.

Sizing. ltbot sizes a `perp` by risk (a stop-out loses risk_pct of the NAV), capped so that
the isolated margin at the leverage setting plus the entry fee fit in the NAV; freqtrade
stakes a fixed amount: with `stake_amount = "unlimited"` and one open trade,
`tradable_balance_ratio` (default 0.99) x its wallet, at leverage 1. Here ltbot's risk is set
so high (risk_pct 0.1 with a 5 % stop wants ~2x the NAV) that the cap always binds: at
leverage 1 the notional is NAV / (1 + fee). ltbot's `max_leverage` cannot go below 1, so the
same stake is made on freqtrade's side: `tradable_balance_ratio = 1 / (1 + fee)` (default;
`--ft-ratio 0.99` runs freqtrade's default instead). Both then round down to the 0.001 BTC lot.

Window. ltbot's replay starts with an empty history, so its first signal comes after 50 1h
bars (2023-01-03 01:00's bar, filled at 02:00); freqtrade loads warm-up candles before its
timerange and processes the candle after the timerange's start first, so its timerange starts
at 2023-01-03 01:00. Both end at 2024-05-14 00:00: ltbot `--to 2024-05-13` (the last 5m bar
closes then), freqtrade force-exits its open trade at the open of that hour.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_freqtrade  # noqa: E402
from freqtrade_matching import (  # noqa: E402
    CAPITAL,
    FEE,
    compare,
    final_balances,
    funding_detail,
    summary,
)

ROOT = Path(__file__).resolve().parents[1]
TWIN = ROOT / "scripts" / "freqtrade_bench" / "ltbot_side"
DATA_5M = bench_freqtrade.FILES_5M
DATA_1H = bench_freqtrade.FILES_1H
SYMBOL = "BTC/USDT:USDT"
FIRST = datetime(2023, 1, 3, 1, tzinfo=UTC)  # open time of ltbot's first signal bar
END = datetime(2024, 5, 14, tzinfo=UTC)
# risk_pct 0.1 with a 5 % stop wants ~2x the NAV: the 1x cap (margin + entry fee <= NAV) binds
VEHICLE = (
    "perp:risk_pct=0.1,risk_bounds=0.02..0.1,max_leverage=1,leverage=1,"
    f"slippage_bps=0,taker_fee={FEE}"
)


def ltbot_config(fill: str, db: Path) -> str:
    """The replay's config: SmaCrossFt's twin on one perp, `fill` as given."""
    return f"""[exchange]
symbols = ["{SYMBOL}"]

[store]
path = "{db}"

[[experiments]]
name = "smacross-ft"
symbol = "{SYMBOL}"
strategy = "sma_cross_stop:SmaCrossStop"
params = {{ fast = 20, slow = 50, stop_pct = 0.05, tick = 0.1 }}
capital = {CAPITAL:.0f}
fill = "{fill}"
vehicles = ["{VEHICLE}"]
"""


def data_dir(tmp: Path) -> Path:
    """The 5m candles of the window and the 1h mark and funding files, as freqtrade reads."""
    out = tmp / "data"
    out.mkdir(exist_ok=True)
    for source in (
        DATA_5M / "BTC_USDT_USDT-5m-futures.feather",
        DATA_1H / "BTC_USDT_USDT-1h-mark.feather",
        DATA_1H / "BTC_USDT_USDT-1h-funding_rate.feather",
    ):
        (out / source.name).symlink_to(source)
    return out


def run_ltbot(fill: str, tmp: Path, data: Path) -> dict[str, Any]:
    """`ltbot replay` with `fill`; its positions, fills, funding and final NAV."""
    db = tmp / f"ltbot-{fill}.db"
    config = tmp / f"ltbot-{fill}.toml"
    config.write_text(ltbot_config(fill, db))
    last_day = (END - timedelta(days=1)).date().isoformat()
    command = [
        *(str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "--log-level", "WARNING"),
        *("replay", "--data", str(data), "--config", str(config), "--db", str(db)),
        *("--to", last_day),
    ]
    env = {**os.environ, "PYTHONPATH": str(TWIN)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ltbot replay failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return {"command": " ".join(command), "config": config.read_text(), **read_ledger(db)}


def read_ledger(db: Path) -> dict[str, Any]:
    """Trades of the one portfolio of `db` (fees and funding per position) and its last NAV."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        positions = [dict(r) for r in con.execute("SELECT * FROM positions ORDER BY opened_at")]
        fills = [dict(r) for r in con.execute("SELECT * FROM fills ORDER BY id")]
        funding = con.execute("SELECT at, amount FROM fees WHERE kind = 'funding'").fetchall()
        nav = dict(con.execute("SELECT * FROM nav ORDER BY at DESC LIMIT 1").fetchone())
    finally:
        con.close()
    trades = []
    for p in positions:
        opened, closed = p["opened_at"], p["closed_at"]
        entry_fee = sum(f["fee"] for f in fills if f["at"] == opened and f["reason"] == "entry")
        exit_fee = sum(
            f["fee"] for f in fills if closed and f["at"] == closed and f["reason"] != "entry"
        )
        paid = sum(a for at, a in funding if opened < at and (closed is None or at <= closed))
        trades.append(
            _trade(
                *(_time(opened), _time(closed) if closed else None, p["side"] == "short"),
                *(p["entry"], p["exit_price"], p["qty"], p["stop"], p["exit_reason"]),
                *(entry_fee + exit_fee, paid, p["pnl"]),
            )
        )
    return {"trades": trades, "nav": nav["nav"], "price": nav["price"], "nav_at": nav["at"]}


def ft_trades(result: dict[str, Any]) -> list[dict[str, Any]]:
    """freqtrade's exported trades in the shape of `read_ledger`'s."""
    return [
        _trade(
            *(_time(t["open_date"]), _time(t["close_date"]), t["is_short"]),
            *(t["open_rate"], t["close_rate"], t["amount"], t["stop_loss_abs"], t["exit_reason"]),
            t["amount"] * (t["open_rate"] * t["fee_open"] + t["close_rate"] * t["fee_close"]),
            -t["funding_fees"],  # freqtrade: < 0 paid
            t["profit_abs"],
        )
        for t in result["trades"]
    ]


def _trade(*values: Any) -> dict[str, Any]:
    # fees: trading fees of both legs; funding: > 0 paid; pnl: net of fees and funding
    keys = ("open", "close", "short", "entry", "exit", "qty", "stop", "reason")
    return dict(zip((*keys, "fees", "funding", "pnl"), values, strict=True))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ft-ratio",
        type=float,
        default=1 / (1 + FEE),
        help="freqtrade's tradable_balance_ratio (default 1 / (1 + fee): ltbot's 1x stake)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "compare")
    parser.add_argument(
        "--ledger", type=Path, help="compare this ltbot ledger (fill = close) instead of replaying"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    timerange = f"{int(FIRST.timestamp())}-{int(END.timestamp())}"
    overrides = {"tradable_balance_ratio": args.ft_ratio}
    ft = bench_freqtrade.backtest_trades(timerange, args.out / "freqtrade", overrides)
    theirs = ft_trades(ft["result"])
    print(f"freqtrade: {ft['version']}\ncommand: {ft['command']}")
    print(f"config overrides: {overrides}\n")
    report: dict[str, Any] = {
        "freqtrade": {k: ft[k] for k in ("version", "command", "archive")} | overrides,
    }
    tmp = args.out / "ltbot"  # the replays' configs and ledgers, kept for a closer look
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    data = data_dir(tmp)
    for fill in ("close",) if args.ledger else ("close", "next_open"):
        if args.ledger:  # e.g. from an older commit, replayed as run_ltbot does
            lt = {"command": f"(ledger {args.ledger})", **read_ledger(args.ledger)}
        else:
            lt = run_ltbot(fill, tmp, data)
        cmp = compare(theirs, lt["trades"], fill)
        cmp["funding_detail"] = funding_detail(theirs, lt["trades"])
        cmp["balances"] = final_balances(ft["result"], theirs, lt)
        report[fill] = {"command": lt["command"], **cmp}
        print(f"ltbot: {lt['command']}")
        print(summary(f'ltbot fill = "{fill}" vs freqtrade', cmp) + "\n")
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"raw: {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
