"""`ltbot presets`: the leveraged-token presets (MECHANICS §12) with their parameters."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import console
from bot.domain.token_presets import preset_doc, preset_names, token_spec
from bot.domain.token_spec import FIXED_FIELDS, TokenSpec
from bot.domain.values import Side


def presets_command(
    name: Annotated[
        str | None, typer.Argument(help="Show every parameter and source of one preset.")
    ] = None,
) -> None:
    """List the token presets (config: vehicle "token:<preset>", overrides by parameter name)."""
    out = console()
    if name is None:
        out.print(_overview())
        return
    try:
        specs = [token_spec(name, side) for side in (Side.LONG, Side.SHORT)]
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out.print(_detail(name, specs))
    out.print(preset_doc(name), markup=False, highlight=False)


def _overview() -> Table:
    table = Table(title='Token presets (config: vehicle "token:<preset>[:key=value,...]")')
    table.add_column("preset", style="bold", no_wrap=True)
    table.add_column("tokens", overflow="fold")
    for column in ("L", "rebalance rule", "fees and carry"):
        table.add_column(column)
    for name in preset_names():
        long, short = token_spec(name, Side.LONG), token_spec(name, Side.SHORT)
        labels = long.label if long == short else f"{long.label}\n{short.label}"
        levs = (
            f"{long.leverage:+g}" if long == short else f"{long.leverage:+g} / {short.leverage:+g}"
        )
        table.add_row(name, labels, levs, _rules(long), _fees(long))
    return table


def _detail(name: str, specs: list[TokenSpec]) -> Table:
    title = f"Preset {name!r}: parameters (override any by name; <name>_long/_short: one side)"
    table = Table(title=title)
    table.add_column("parameter", style="bold")
    for spec in specs:
        table.add_column(spec.label)
    for field in dataclasses.fields(TokenSpec):
        if field.name in FIXED_FIELDS:
            continue
        table.add_row(field.name, *(_show(getattr(spec, field.name)) for spec in specs))
    return table


def _rules(spec: TokenSpec) -> str:
    parts: list[str] = []
    if spec.daily_time is not None:
        parts.append(f"daily {spec.daily_mode} {spec.daily_time[:5]} UTC")
    if spec.daily_mode == "check" and spec.daily_time is not None:
        parts.append(f"  if |λ|∉[{_show(spec.daily_lo)}, {_show(spec.daily_hi)}]")
        parts.append(f"  or |move|>{_pct(spec.daily_move_pct)}")
    if spec.tolerance is not None:
        parts.append(f"| |λ| − L | ≥ {spec.tolerance:g} (to target)")
    if spec.band_lo is not None or spec.band_hi is not None:
        parts.append(f"band |λ| [{_show(spec.band_lo)}, {_show(spec.band_hi)}]")
    if spec.max_leverage is not None:
        parts.append(f"|λ| ≥ {spec.max_leverage:.4g}")
    if spec.move_trigger_pct is not None:
        side = "adverse " if spec.move_adverse_only else "±"
        parts.append(f"{side}move ≥ {_pct(spec.move_trigger_pct)}")
    if spec.always_rebalance:
        parts.append("every price")
    parts.append(f"monitoring: {spec.monitoring}")
    return "\n".join(parts)


def _fees(spec: TokenSpec) -> str:
    lines = [
        f"sub {_pct(spec.subscription_fee_pct)} / redeem {_pct(spec.redemption_fee_pct)}",
        f"mgmt {_pct(spec.management_fee_pct)}/day {(spec.management_time or '-')[:5]}",
        f"funding {'in NAV' if spec.funding_pass_through else 'none'}",
        f"rebalance {_pct(spec.rebalance_fee_pct)} + slip {_pct(spec.slippage_pct)}",
    ]
    if spec.spot_fee_pct is not None:
        lines.append(f"spot fee {_pct(spec.spot_fee_pct)} (route {spec.route})")
    caps = (spec.daily_subscription_cap, spec.daily_redemption_cap)
    if caps != (None, None):
        lines.append(f"daily cap sub {_show(caps[0])} / redeem {_show(caps[1])} USDT")
    if spec.split_threshold_nav is not None:
        lines.append(f"split at NAV < {spec.split_threshold_nav:g} (×{spec.split_ratio:g})")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:g}%"


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Side):
        return value.label
    return str(value)
