"""What a portfolio holds, in words, from `LedgerQueries.holdings()` (`ltbot status` and the
`ltbot serve` page say it the same way)."""

from __future__ import annotations

from typing import Any


def holding_text(held: dict[str, Any]) -> str:
    """One portfolio's holding in words: token units with NAV per unit and the token's own
    leverage (its exposure / its value); a position's side, size, entry, stop and liquidation
    price; or cash."""
    if held["at"] is None:
        return "capital in cash (no step yet)"
    parts = []
    tokens = held["tokens"]
    value = held["nav"] - held["cash"]  # USDT in tokens: NAV = cash + units x NAV per unit
    for instrument, units in tokens.items():
        text = f"{units:,.6g} {instrument} units"
        if len(tokens) == 1 and value > 0:  # per-unit figures only when one token is held
            text += f" @ NAV/unit {price_text(value / units)}, {held['exposure'] / value:+.2f}x"
        parts.append(text)
    pos = held["position"]
    if pos is not None:
        stop = "no stop" if pos["stop"] is None else f"stop {price_text(pos['stop'])}"
        text = (
            f"{pos['side']} {pos['qty']:,.6g} {pos['symbol']} @ {price_text(pos['entry'])}, {stop}"
        )
        if pos["liq_price"] is not None:
            liq = pos["liq_price"]
            text += ", no liquidation price" if liq <= 0 else f", liq. {price_text(liq)}"
        parts.append(text)
    return "; ".join(parts) or "cash"


def price_text(value: float) -> str:
    """A price: whole cents from 100 up, six significant digits below (0.0001234)."""
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"
