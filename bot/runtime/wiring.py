"""The composition root: build engines, portfolios and sessions from settings.

Used by `ltbot run`, `replay` and `demo`, so all three drive the very same engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from loguru import logger

from bot.adapters.ccxt.market_rules import rules_for
from bot.adapters.ccxt.tiers import snapshot_age_warning, tiers_for
from bot.adapters.sqlite.store import Store
from bot.config.settings import ConfigError, ExperimentSettings, Settings
from bot.config.strategy_loader import build_for
from bot.config.vehicles import VehicleSpec, build_vehicle_params
from bot.domain.liquidation import Tier
from bot.domain.sizing import spot_symbol
from bot.domain.token_presets import token_spec
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side
from bot.engine.bars import BarAggregator
from bot.engine.engine import Engine, ExperimentSlot, Validator
from bot.engine.ports import PortfolioRow, VehicleParams
from bot.engine.strategy_guard import SlowCallPolicy, StrategyHealth
from bot.engine.validation import SnapshotValidator
from bot.portfolios.accounts import AccountRunner
from bot.portfolios.protocol import PortfolioRunner
from bot.portfolios.tokens import TokenRunner
from bot.runtime.clock import SystemClock, monotonic
from bot.strategy import History


def portfolio_id(experiment: ExperimentSettings, vehicle: VehicleSpec) -> str:
    """Stable id of a portfolio: `<experiment>/<vehicle label>`."""
    return f"{experiment.name}/{vehicle.label}"


def portfolio_rows(settings: Settings) -> list[PortfolioRow]:
    """The `portfolios` rows of every experiment x vehicle, with effective vehicle parameters."""
    rows = []
    for exp in settings.experiments:
        for vehicle in exp.vehicles:
            params: dict[str, Any] = {"strategy": exp.params, "vehicle": vehicle.params}
            if exp.timeframe is not None:  # part of what the portfolio is (issue 17 point 7)
                params["timeframe"] = exp.timeframe
            rows.append(
                PortfolioRow(
                    portfolio_id(exp, vehicle),
                    exp.name,
                    vehicle.label,
                    exp.strategy,
                    exp.symbol,
                    exp.capital,
                    params,
                    vehicle_params(settings, vehicle),
                )
            )
    return rows


def vehicle_params(settings: Settings, vehicle: VehicleSpec) -> VehicleParams:
    """What a vehicle runs with: each token's spec after `[presets.<name>]` and the vehicle
    string's overrides, or every perp/perp_static/spot parameter after defaults."""
    if vehicle.kind == "token":
        assert vehicle.preset is not None  # VehicleSpec guarantees a preset for tokens
        overrides = {**settings.presets.get(vehicle.preset, {}), **vehicle.params}
        return VehicleParams("token", token_specs(vehicle.preset, overrides))
    params = build_vehicle_params(vehicle.kind, vehicle.params)
    assert dataclasses.is_dataclass(params) and not isinstance(params, type)
    return VehicleParams(vehicle.kind, params=dataclasses.asdict(params))


def build_engine(
    settings: Settings,
    *,
    markets: Mapping[str, Mapping[str, Any]] | None = None,
    live_tiers: Mapping[str, Sequence[Tier]] | None = None,
    live: bool = True,
) -> Engine:
    """Strategies and runners for every experiment, all fed by one engine.

    `live`: the validator's live rules, and each strategy call timed against the slow-call
    budget (`SlowCallPolicy`); a replay times nothing, so its ledger never depends on the
    speed of the machine.
    """
    slots = []
    for index, exp in enumerate(settings.experiments):
        strategy = build_for(settings, exp)
        check_listed(index, exp, markets)
        try:
            runners = [
                build_runner(settings, exp, vehicle, markets, live_tiers)
                for vehicle in exp.vehicles
            ]
        except ValueError as exc:  # e.g. a perp on a symbol with no leverage tiers
            raise ConfigError(f"experiments[{index}].vehicles: {exc}") from None
        tf = strategy.timeframe
        slots.append(
            ExperimentSlot(
                exp.name,
                exp.symbol,
                strategy,
                runners,
                History(exp.symbol, tf),
                BarAggregator(exp.symbol, tf),
                health=StrategyHealth(SlowCallPolicy(monotonic) if live else None),
                next_open=exp.fill == "next_open",
            )
        )
    if live and uses_bundled_tiers(settings, live_tiers):
        warning = snapshot_age_warning(SystemClock().now(), settings.exchange.tiers_max_age_days)
        if warning is not None:
            logger.warning(warning)
    return Engine(slots, build_validator(settings, live))


def check_listed(
    index: int, exp: ExperimentSettings, markets: Mapping[str, Mapping[str, Any]] | None
) -> None:
    """ConfigError when the exchange's loaded markets do not list the experiment's symbol."""
    if markets and exp.symbol not in markets:
        raise ConfigError(
            f"experiments[{index}].symbol: {exp.symbol!r} is not listed by the exchange "
            f"({len(markets)} markets loaded)"
        )


def uses_bundled_tiers(settings: Settings, live_tiers: Mapping[str, Sequence[Tier]] | None) -> bool:
    """Whether some perp vehicle takes its leverage tiers from the bundled snapshot."""
    return any(
        vehicle.kind != "token"
        and vehicle.kind != "spot"
        and (live_tiers is None or exp.symbol not in live_tiers)
        for exp in settings.experiments
        for vehicle in exp.vehicles
    )


def build_validator(settings: Settings, live: bool = True) -> Validator:
    """The snapshot validator of DESIGN.md step 1, as the engine calls it.

    Live, every configured symbol must be in each snapshot, with a mark price. A replay's
    symbols may start at different dates and recorded data may lack the mark, so neither
    is required there.
    """
    return SnapshotValidator(
        settings.exchange.symbols if live else None,
        max_jump_pct=settings.exchange.max_jump_pct,
        stale_after_seconds=settings.exchange.stale_after_seconds,
        require_mark=live,
    )


def build_runner(
    settings: Settings,
    exp: ExperimentSettings,
    vehicle: VehicleSpec,
    markets: Mapping[str, Mapping[str, Any]] | None,
    live_tiers: Mapping[str, Sequence[Tier]] | None,
) -> PortfolioRunner:
    """One portfolio's runner for a vehicle spec."""
    pid = portfolio_id(exp, vehicle)
    if vehicle.kind == "token":
        specs = dict(vehicle_params(settings, vehicle).tokens)
        return TokenRunner(pid, exp.name, exp.symbol, exp.capital, specs)
    params = build_vehicle_params(vehicle.kind, vehicle.params)
    spot = vehicle.kind == "spot"
    rules = rules_for(spot_symbol(exp.symbol) if spot else exp.symbol, markets)
    tiers = () if spot else tiers_for(exp.symbol, live_tiers)
    return AccountRunner(
        pid,
        exp.name,
        exp.symbol,
        exp.capital,
        params,  # type: ignore[arg-type]
        rules,
        tiers,
    )


def token_specs(preset: str, overrides: Mapping[str, Any]) -> dict[Side, TokenSpec]:
    """The long and short tokens of a preset; fixed-direction families have only one."""
    long, short = (
        token_spec(preset, Side.LONG, overrides),
        token_spec(preset, Side.SHORT, overrides),
    )
    if long.side is short.side:
        return {long.side: long}
    return {Side.LONG: long, Side.SHORT: short}


def rename_experiments(settings: Settings, names: Mapping[str, str]) -> Settings:
    """The same settings with experiments renamed by `names` (the generation a ledger runs
    them as, bot.adapters.sqlite.identity)."""
    if not names:
        return settings
    experiments = [
        e.model_copy(update={"name": names[e.name]}) if e.name in names else e
        for e in settings.experiments
    ]
    return settings.model_copy(update={"experiments": experiments})


def open_store(settings: Settings) -> Store:
    """Open the ledger and register every portfolio (its vehicle parameters when it is new)."""
    store = Store(settings.store.path)
    for pid in store.upsert_portfolios(portfolio_rows(settings)):
        logger.warning(
            "{}: the config's vehicle parameters differ from those stored when the portfolio "
            "was created; it runs with the config's, reports keep the stored ones "
            "(a new experiment name starts a new portfolio)",
            pid,
        )
    return store
