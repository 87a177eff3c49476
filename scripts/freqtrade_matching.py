"""Trade matching of scripts/compare_freqtrade.py: ltbot's trades against freqtrade's, by entry
time and side; the differences with their reasons, funding at settlement instants, final
balances and the printed summary (docs/FREQTRADE.md explains each class of difference)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from bench_freqtrade import FILES_1H as DATA_1H

FEE = 0.0005
CAPITAL = 10_000.0
SETTLEMENT_HOURS = (0, 8, 16)
LOT = 0.001  # BTCUSDT stepSize
REL = 1e-9
CENT = 0.005


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= REL * max(abs(a), abs(b))


REASONS = {"exit_signal": "exit", "stop_loss": "stop"}


def _balances(trades: list[dict[str, Any]]) -> list[float]:
    """The balance before each trade: the capital plus every earlier trade's net P&L (one
    trade at a time on both sides)."""
    out, balance = [], CAPITAL
    for t in trades:
        out.append(balance)
        balance += t["pnl"] or 0.0
    return out


def compare(ft: list[dict[str, Any]], lt: list[dict[str, Any]], fill: str) -> dict[str, Any]:
    """Match by (entry time, side); count exact matches among the trades closed on both sides
    (times, prices to 1e-9, size, trading fees to the cent); say why the others differ."""
    ft_before = dict(zip([id(t) for t in ft], _balances(ft), strict=True))
    lt_before = dict(zip([id(t) for t in lt], _balances(lt), strict=True))
    ours = {(t["open"], t["short"]): t for t in lt}
    theirs = {(t["open"], t["short"]): t for t in ft}
    counts: dict[str, int] = {}
    matched = closed = exact = exact_funding = same_times = 0
    notes: list[dict[str, Any]] = []
    for key in sorted(theirs.keys() & ours.keys()):
        f, o = theirs[key], ours[key]
        matched += 1
        if o["close"] is None or f["reason"] == "force_exit":
            continue  # the trade open at the end: see the final balances
        closed += 1
        same_times += f["close"] == o["close"]
        reasons = differences(f, o, fill, (ft_before[id(f)], lt_before[id(o)]))
        for kind, _ in reasons:
            counts[kind] = counts.get(kind, 0) + 1
        funding_kind = funding_reason(f, o)
        if funding_kind:
            counts[funding_kind] = counts.get(funding_kind, 0) + 1
        if not reasons:
            exact += 1
            exact_funding += not funding_kind
            continue
        details = [f"{kind} ({text})" for kind, text in reasons]
        notes.append({"open": _key(key), "reasons": details})
    return {
        "ft_trades": len(ft),
        "ltbot_trades": len(lt),
        "matched_by_entry_time_and_side": matched,
        "closed_on_both_sides": closed,
        "same_exit_time": same_times,
        "exact": exact,
        "exact_with_funding_to_the_cent": exact_funding,
        "difference_counts": dict(sorted(counts.items())),
        "only_freqtrade": [_key(k) for k in sorted(theirs.keys() - ours.keys())],
        "only_ltbot": [_key(k) for k in sorted(ours.keys() - theirs.keys())],
        "mismatches": notes,
    }


def _key(key: tuple[datetime, bool]) -> str:
    return f"{key[0]:%Y-%m-%d %H:%M} {'short' if key[1] else 'long'}"


def differences(
    f: dict[str, Any], o: dict[str, Any], fill: str, before: tuple[float, float]
) -> list[tuple[str, str]]:
    """Why a matched closed trade is not an exact match, as (kind, detail); [] when it is."""
    out = []
    if not _same(f["entry"], o["entry"]):
        kind = "entry: signal close vs next open" if fill == "close" else "entry: other"
        out.append((kind, f"freqtrade {f['entry']}, ltbot {o['entry']}"))
    if f["qty"] != o["qty"]:
        # ltbot's 1x rule (NAV / (1 + fee), whole lots) on freqtrade's balance: if that gives
        # ltbot's size, freqtrade's stake rule differs; else the balances do
        lots = math.floor(before[0] / (1 + FEE) / o["entry"] / LOT + 1e-9)
        same_rule = lots == round(o["qty"] / LOT)
        kind = "size: stake rule" if same_rule else "size: balances differ"
        detail = f"freqtrade {f['qty']}, ltbot {o['qty']}; balance before: "
        out.append((kind, detail + f"freqtrade {before[0]:.2f}, ltbot {before[1]:.2f}"))
    if f["close"] != o["close"] or REASONS.get(f["reason"]) != o["reason"]:
        detail = (
            f"freqtrade {f['reason']} {f['close']:%Y-%m-%d %H:%M}, "
            f"ltbot {o['reason']} {o['close']:%Y-%m-%d %H:%M}"
        )
        out.append(("exit: time or reason", detail))
    elif not _same(f["exit"], o["exit"]):
        detail = f"freqtrade {f['exit']}, ltbot {o['exit']}"
        if f["reason"] == "exit_signal":
            kind = "exit signal: close vs next open" if fill == "close" else "exit signal: other"
        elif not _same(f["stop"], o["stop"]):
            kind = "stop: another stop price"
            detail += f"; stops: freqtrade {f['stop']} (5 % from its fill), ltbot {o['stop']}"
        else:
            kind = "stop: gap fill"
        out.append((kind, detail))
    if not out and abs(f["fees"] - o["fees"]) >= CENT:
        out.append(("fees", f"freqtrade {f['fees']:.4f}, ltbot {o['fees']:.4f}"))
    return out


def funding_reason(f: dict[str, Any], o: dict[str, Any]) -> str | None:
    """Why the funding of a matched closed trade differs by a cent or more (None if not)."""
    if abs(f["funding"] - o["funding"]) < CENT:
        return None
    if f["open"].minute == 0 and f["open"].hour in SETTLEMENT_HOURS:
        return "funding: entry at a settlement"
    return "funding: size" if f["qty"] != o["qty"] else "funding: mark"


def funding_detail(ft: list[dict[str, Any]], lt: list[dict[str, Any]]) -> dict[str, Any]:
    """The funding differences of the trades that match in entry, exit and size, split into
    the settlement at the entry instant (freqtrade's calculate_funding_fees counts the
    settlements in [open, close], both ends included; ltbot's position opens after the timed
    events of that instant) and the rest: the mark (freqtrade the open of the 1h mark candle
    starting at the settlement, ltbot the close of the one ending then)."""
    import pandas as pd

    rates = pd.read_feather(DATA_1H / "BTC_USDT_USDT-1h-funding_rate.feather")
    marks = pd.read_feather(DATA_1H / "BTC_USDT_USDT-1h-mark.feather")
    rate = {d.to_pydatetime(): r for d, r in zip(rates["date"], rates["open"], strict=True)}
    mark = {d.to_pydatetime(): m for d, m in zip(marks["date"], marks["open"], strict=True)}
    ours = {(t["open"], t["short"]): t for t in lt}
    at_entry, count, rest, worst, trades = 0.0, 0, 0.0, 0.0, 0
    for f in ft:
        o = ours.get((f["open"], f["short"]))
        if o is None or o["close"] is None or f["close"] != o["close"] or f["qty"] != o["qty"]:
            continue
        trades += 1
        extra = 0.0
        if f["open"] in rate:  # freqtrade also books the settlement at its entry instant
            extra = (-1 if f["short"] else 1) * rate[f["open"]] * mark[f["open"]] * f["qty"]
            count += 1
        at_entry += extra
        rest += f["funding"] - o["funding"] - extra
        worst = max(worst, abs(f["funding"] - o["funding"] - extra))
    return {
        "trades": trades,
        "entries_at_a_settlement": count,
        "ft_extra_at_entry": at_entry,
        "rest_ft_minus_ltbot": rest,
        "rest_max_per_trade": worst,
    }


def final_balances(
    ft_result: dict[str, Any], ft: list[dict[str, Any]], lt: dict[str, Any]
) -> dict[str, Any]:
    """freqtrade's final balance (its open trade force-exited at the open of the last hour)
    and ltbot's NAV at the end, also less the fee of closing its open position there."""
    last = lt["trades"][-1] if lt["trades"] else None
    exit_fee = last["qty"] * lt["price"] * FEE if last and last["close"] is None else 0.0
    closed = [t for t in ft if t["reason"] != "force_exit"]
    ft_open = ft[-1] if ft and ft[-1]["reason"] == "force_exit" else None
    sums = {
        f"{side}_closed_{what}": sum(t[what] for t in trades)
        for side, trades in (
            ("freqtrade", closed),
            ("ltbot", [t for t in lt["trades"] if t["close"]]),
        )
        for what in ("fees", "funding", "pnl")
    }
    return {
        **sums,
        "freqtrade": ft_result["final_balance"],
        "ltbot_nav": lt["nav"],
        "ltbot_nav_less_exit_fee": lt["nav"] - exit_fee,
        "ltbot_last_price": lt["price"],
        "freqtrade_force_exit_price": ft_open["exit"] if ft_open else None,
        "freqtrade_before_last_trade": CAPITAL + sum(t["pnl"] for t in closed),
        "ltbot_before_last_trade": CAPITAL + sum(t["pnl"] for t in lt["trades"] if t["close"]),
    }


def summary(name: str, cmp: dict[str, Any]) -> str:
    """The comparison as text: counts, differences by kind, the first mismatches, balances."""
    fund, bal = cmp["funding_detail"], cmp["balances"]
    lines = [
        f"## {name}",
        f"trades: freqtrade {cmp['ft_trades']}, ltbot {cmp['ltbot_trades']}; matched by entry "
        f"time and side: {cmp['matched_by_entry_time_and_side']} (only freqtrade "
        f"{cmp['only_freqtrade'][:3]}, only ltbot {cmp['only_ltbot'][:3]})",
        f"closed on both sides: {cmp['closed_on_both_sides']}; same exit time: "
        f"{cmp['same_exit_time']}; exact (times, prices to 1e-9 relative, size, fees to the "
        f"cent): {cmp['exact']}; of those also funding to the cent: "
        f"{cmp['exact_with_funding_to_the_cent']}",
        f"differences by kind (trades): {cmp['difference_counts']}",
        f"funding of the {fund['trades']} trades equal in entry, exit and size: freqtrade books "
        f"{fund['entries_at_a_settlement']} settlements at the entry instant "
        f"({fund['ft_extra_at_entry']:+.2f} USDT); the rest differs by "
        f"{fund['rest_ft_minus_ltbot']:+.4f} in total, at most {fund['rest_max_per_trade']:.4f} "
        "per trade (the mark)",
        f"balance before the last trade: freqtrade {bal['freqtrade_before_last_trade']:.2f}, "
        f"ltbot {bal['ltbot_before_last_trade']:.2f}; closed trades' fees: freqtrade "
        f"{bal['freqtrade_closed_fees']:.2f}, ltbot {bal['ltbot_closed_fees']:.2f}; funding: "
        f"freqtrade {bal['freqtrade_closed_funding']:.2f}, ltbot {bal['ltbot_closed_funding']:.2f}",
        f"final: freqtrade {bal['freqtrade']:.2f} (force exit at "
        f"{bal['freqtrade_force_exit_price']}), ltbot NAV {bal['ltbot_nav']:.2f} at "
        f"{bal['ltbot_last_price']}, {bal['ltbot_nav_less_exit_fee']:.2f} less the exit fee",
        "first mismatches:",
    ]
    lines += [f"  {m['open']}: {'; '.join(m['reasons'])}" for m in cmp["mismatches"][:8]]
    return "\n".join(lines)
