"""`ltbot strategies`: the strategies that can be named in config, with their parameters."""

from __future__ import annotations

from typing import Any

import typer
from pydantic.fields import FieldInfo
from rich.table import Table

from bot.cli.common import console
from bot.config.strategy_loader import StrategyLoadError, discover


def strategies_command() -> None:
    """List every available strategy with its timeframe and parameters (name = default)."""
    try:
        found = discover()
    except StrategyLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title='Strategies (config: strategy = "<name>" or "module:Class")')
    table.add_column("name", style="bold")
    table.add_column("class")
    table.add_column("timeframe")
    table.add_column("parameters")
    for name, cls in found.items():
        params = "\n".join(_describe(key, field) for key, field in cls.Params.model_fields.items())
        table.add_row(name, f"{cls.__module__}:{cls.__name__}", cls.timeframe, params or "-")
    console().print(table)


def _describe(key: str, field: FieldInfo) -> str:
    default: Any = field.get_default(call_default_factory=True)
    text = f"{key} = {default!r}"
    return f"{text}: {field.description}" if field.description else text
