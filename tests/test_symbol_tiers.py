"""Every USD-M symbol (issue 17 point 2): bundled tiers and rules for any listed symbol, a
symbol the exchange does not list refused with the key path, one warning for old tiers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from loguru import logger

from bot.adapters.ccxt.market_rules import rules_for
from bot.adapters.ccxt.tiers import snapshot_age_warning, tiers_for
from bot.config.settings import ConfigError, Settings, load_settings
from bot.runtime.wiring import build_engine

CONFIG = """
[exchange]
symbols = ["{symbol}"]
{extra}
[store]
path = "{db}"

[[experiments]]
name = "x"
symbol = "{symbol}"
strategy = "hold"
vehicles = ["{vehicle}"]
"""


def settings(tmp_path: Path, symbol: str, vehicle: str = "perp", extra: str = "") -> Settings:
    path = tmp_path / "config.toml"
    text = CONFIG.format(symbol=symbol, vehicle=vehicle, extra=extra, db=tmp_path / "l.db")
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_any_listed_symbol_has_bundled_tiers_and_rules() -> None:
    # Binance SOLUSDT (exchangeInfo 2025-12-24): LOT_SIZE/MARKET_LOT_SIZE stepSize 1,
    # MIN_NOTIONAL 5, liquidationFee 0.02; brackets 2026-05-07: 0-50 k at 0.5 %, 100x.
    sol = rules_for("SOL/USDT:USDT")
    assert (sol.lot_step, sol.min_notional, sol.liquidation_fee) == (1.0, 5.0, 0.02)
    first = tiers_for("SOL/USDT:USDT")[0]
    assert (first.floor, first.cap, first.mmr, first.cum, first.max_leverage) == (
        0.0, 50_000.0, 0.005, 0.0, 100.0
    )  # fmt: skip
    # BTC and ETH keep the rules they had offline (sizing.USDM_RULES).
    btc = rules_for("BTC/USDT:USDT")
    assert (btc.lot_step, btc.min_notional) == (0.001, 100.0)


def test_a_symbol_the_loaded_markets_do_not_list_is_a_config_error(tmp_path: Path) -> None:
    markets = {"BTC/USDT:USDT": {"symbol": "BTC/USDT:USDT"}}
    with pytest.raises(ConfigError) as caught:
        build_engine(settings(tmp_path, "SOL/USDT:USDT"), markets=markets)
    assert str(caught.value) == (
        "experiments[0].symbol: 'SOL/USDT:USDT' is not listed by the exchange (1 markets loaded)"
    )


def test_a_perp_on_a_symbol_without_tiers_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_engine(settings(tmp_path, "NEW/USDT:USDT"), live=False)
    assert str(caught.value) == (
        "experiments[0].vehicles: no leverage tiers for 'NEW/USDT:USDT': not in the bundled "
        "Binance USDⓈ-M snapshot of 2026-05-07 (719 symbols)"
    )
    build_engine(settings(tmp_path, "NEW/USDT:USDT", vehicle="spot"), live=False)  # no tiers


def test_the_age_warning_names_the_date_and_the_key() -> None:
    assert snapshot_age_warning(datetime(2026, 11, 3, tzinfo=UTC), 180) is None  # 180 days
    assert snapshot_age_warning(datetime(2026, 11, 4, tzinfo=UTC), 180) == (
        "the bundled leverage tiers date from 2026-05-07, 181 days before 2026-11-04 (more "
        "than exchange.tiers_max_age_days = 180): Binance changes its brackets from time to "
        "time, so liquidation prices may be off; a newer ltbot release bundles newer tiers"
    )


def test_a_live_build_warns_once_when_the_tiers_are_older_than_the_configured_age(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(m.record["message"]), level="WARNING")
    try:
        old = settings(tmp_path, "SOL/USDT:USDT", extra="tiers_max_age_days = 1")
        build_engine(old)
        build_engine(old, live=False)  # a replay: no warning
        # Any wall clock after 2026-05-08 is more than 1 day past the snapshot.
        assert [m for m in seen if "tiers_max_age_days = 1" in m] == [seen[0]]
        seen.clear()
        build_engine(settings(tmp_path, "SOL/USDT:USDT", extra="tiers_max_age_days = 36500"))
        build_engine(settings(tmp_path, "SOL/USDT:USDT", vehicle="spot", extra=""))
        assert seen == []
    finally:
        logger.remove(sink)
