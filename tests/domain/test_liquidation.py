"""Isolated liquidation (MECHANICS §9): tiers, the worked check, the guard, bundled tiers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.ccxt.tiers import all_tiers_from_ccxt, bundled_tiers, tiers_for, tiers_from_ccxt
from bot.domain.liquidation import (
    Tier,
    bankruptcy_price,
    buffered_liquidation_price,
    cumulative_amounts,
    liquidation_price,
    max_qty_with_stop_first,
    stop_comes_first,
    tier_for,
    validate_tiers,
)
from bot.domain.values import Side

# MECHANICS §9: BTCUSDT tiers, freqtrade snapshot 2024-10-24 (notional floors, MMR, max leverage).
FLOORS = [0, 50e3, 600e3, 3e6, 12e6, 70e6, 100e6, 230e6, 480e6, 600e6, 800e6, 1.2e9]
CAPS = [*FLOORS[1:], 1.8e9]
MMRS = [0.004, 0.005, 0.0065, 0.01, 0.02, 0.025, 0.05, 0.10, 0.125, 0.15, 0.25, 0.50]
MAX_LEV = [125, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1]
CUMS_2024 = [0, 50, 950, 11_450, 131_450, 481_450, 2_981_450, 14_481_450, 26_481_450,
             41_481_450, 121_481_450, 421_481_450]  # fmt: skip
ROWS = zip(FLOORS, CAPS, MMRS, CUMS_2024, MAX_LEV, strict=True)
TIERS_2024 = validate_tiers([Tier(f, c, m, cum, lev) for f, c, m, cum, lev in ROWS])


def maintenance_margin(tiers: list[Tier], notional: float) -> float:
    """MM = notional x MMR - cum (USDT) for an absolute notional (MECHANICS §9)."""
    tier = tier_for(tiers, notional)
    return notional * tier.mmr - tier.cum


def test_cum_column_follows_from_floors_and_rates() -> None:
    # cum_n = floor_n x (MMR_n - MMR_n-1) + cum_n-1, e.g. tier 2: 50,000 x 0.001 + 0 = 50.
    assert cumulative_amounts(FLOORS, MMRS) == pytest.approx(CUMS_2024, abs=1e-6)


@pytest.mark.parametrize(("side", "expected"), [(Side.LONG, 54_221.11), (Side.SHORT, 65_721.39)])
def test_worked_check_of_mechanics_section_9(side: Side, expected: float) -> None:
    # 1 BTC @ 60,000, 10x isolated (WB = 6,000), tier 2 (0.5 %, cum 50):
    # long  LP = (6,000 + 50 - 60,000) / (0.005 - 1) = 54,221.105...
    # short LP = (6,000 + 50 + 60,000) / (0.005 + 1) = 65,721.393...
    lp = liquidation_price(side, 1.0, 60_000.0, 6_000.0, TIERS_2024)
    assert lp is not None
    assert round(lp, 2) == expected


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
def test_at_the_liquidation_price_equity_equals_maintenance_margin(side: Side) -> None:
    lp = liquidation_price(side, 1.0, 60_000.0, 6_000.0, TIERS_2024)
    assert lp is not None
    equity = 6_000.0 + float(side) * (lp - 60_000.0)
    assert equity == pytest.approx(maintenance_margin(TIERS_2024, lp))


def test_tier_is_looked_up_by_notional() -> None:
    assert tier_for(TIERS_2024, 49_999.0).mmr == 0.004
    assert tier_for(TIERS_2024, 50_000.0).mmr == 0.005
    assert tier_for(TIERS_2024, 5e9).mmr == 0.5  # beyond the last cap: the last bracket


def test_liquidation_price_recomputed_in_the_tier_it_lands_in() -> None:
    # 1 BTC long @ 60,000 at 1.25x (WB = 48,000): the entry notional's tier 2 gives
    # LP = 11,950 / 0.995 = 12,010.05, where the notional 1 x LP lies in tier 1 (0.4 %, cum 0):
    # LP = 12,000 / 0.996 = 12,048.19, which stays in tier 1.
    lp = liquidation_price(Side.LONG, 1.0, 60_000.0, 48_000.0, TIERS_2024)
    assert lp == pytest.approx(12_000.0 / 0.996)


def test_fully_margined_long_cannot_be_liquidated() -> None:
    assert liquidation_price(Side.LONG, 1.0, 60_000.0, 60_000.0, TIERS_2024) is None


def test_bankruptcy_price_uses_up_the_margin() -> None:
    assert bankruptcy_price(Side.LONG, 2.0, 60_000.0, 6_000.0) == 57_000.0
    assert bankruptcy_price(Side.SHORT, 2.0, 60_000.0, 6_000.0) == 63_000.0


def test_buffer_moves_the_liquidation_price_towards_entry() -> None:
    # freqtrade: stop_floor = LP + |open - LP| x 0.05 for a long, minus for a short.
    assert buffered_liquidation_price(Side.LONG, 60_000.0, 54_000.0, 0.05) == 54_300.0
    assert buffered_liquidation_price(Side.SHORT, 60_000.0, 66_000.0, 0.05) == 65_700.0


def test_stop_comes_first_only_inside_the_buffered_price() -> None:
    assert stop_comes_first(Side.LONG, 54_301.0, 60_000.0, 54_000.0, 0.05)
    assert not stop_comes_first(Side.LONG, 54_300.0, 60_000.0, 54_000.0, 0.05)
    assert not stop_comes_first(Side.SHORT, 65_800.0, 60_000.0, 66_000.0, 0.05)
    assert stop_comes_first(Side.LONG, 1.0, 60_000.0, None, 0.05)


@pytest.mark.parametrize(("side", "stop"), [(Side.LONG, 55_000.0), (Side.SHORT, 65_000.0)])
def test_max_qty_puts_the_buffered_liquidation_price_on_the_stop(side: Side, stop: float) -> None:
    qty = max_qty_with_stop_first(side, stop, 60_000.0, 6_000.0, TIERS_2024, 0.05)
    lp = liquidation_price(side, qty, 60_000.0, 6_000.0, TIERS_2024)
    assert lp is not None
    assert buffered_liquidation_price(side, 60_000.0, lp, 0.05) == pytest.approx(stop, rel=1e-9)
    assert stop_comes_first(side, stop, 60_000.0, lp, 0.05)
    assert not stop_comes_first(
        side, stop, 60_000.0, liquidation_price(side, qty * 1.001, 60_000.0, 6_000.0, TIERS_2024),
        0.05,
    )  # fmt: skip


def test_tiers_must_be_contiguous_from_zero() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        validate_tiers([Tier(0, 10, 0.01, 0, 10), Tier(20, 30, 0.02, 0.1, 5)])
    with pytest.raises(ValueError, match="start at notional 0"):
        validate_tiers([Tier(5, 10, 0.01, 0, 10)])


def test_bundled_tiers_match_the_2026_snapshot() -> None:
    tiers = bundled_tiers()
    assert len(tiers) == 719 and {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"} <= set(tiers)
    btc = tiers["BTC/USDT:USDT"]
    assert len(btc) == 12
    assert btc[0] == Tier(0.0, 300_000.0, 0.004, 0.0, 150.0)
    assert btc[1] == Tier(300_000.0, 800_000.0, 0.005, 300.0, 100.0)
    # The bundled cum values agree with the §9 recurrence on the bundled floors and rates.
    derived = cumulative_amounts([t.floor for t in btc], [t.mmr for t in btc])
    assert [t.cum for t in btc] == pytest.approx(derived, abs=1e-6)


def test_bundled_tiers_are_a_copy_of_shared_data(shared_data: Path) -> None:
    source = shared_data / "leverage_tiers" / "binance_usdm_leverage_tiers_2026-05-07.json.gz"
    assert bundled_tiers() == all_tiers_from_ccxt(json.loads(gzip.decompress(source.read_bytes())))


def test_ccxt_tiers_without_cum_derive_it() -> None:
    entries: list[dict[str, Any]] = [
        {"minNotional": 50_000, "maxNotional": 600_000, "maintenanceMarginRate": 0.005,
         "maxLeverage": 100, "info": {}},
        {"minNotional": 0, "maxNotional": 50_000, "maintenanceMarginRate": 0.004,
         "maxLeverage": 125},
    ]  # fmt: skip
    tiers = tiers_from_ccxt(entries)
    assert [t.cum for t in tiers] == pytest.approx([0.0, 50.0])


def test_tiers_for_prefers_live_tiers_and_rejects_unknown_symbols() -> None:
    assert tiers_for("BTC/USDT:USDT", {"BTC/USDT:USDT": TIERS_2024}) == TIERS_2024
    assert tiers_for("ETH/USDT:USDT")[0].max_leverage == 150.0
    with pytest.raises(ValueError, match="NOSUCH"):
        tiers_for("NOSUCH/USDT:USDT")
