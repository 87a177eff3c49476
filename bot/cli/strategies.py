"""`ltbot strategies`: the strategies that can be named in config, with their parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from rich.table import Table

from bot.cli.common import ConfigOption, StrategyPathOption, fail, load, print_table
from bot.config.settings import DEFAULT_CONFIG_PATH
from bot.config.strategy_loader import StrategyLoadError, discover


def strategies_command(
    config: ConfigOption = None, strategy_path: StrategyPathOption = None
) -> None:
    """List every available strategy with its timeframe and parameters (name = default):
    the shipped ones, those of the config's [strategies] paths and of --strategy-path."""
    try:
        found = discover(_paths(config, strategy_path))
    except StrategyLoadError as exc:
        raise fail(str(exc)) from None
    table = Table(title='Strategies (config: strategy = "<name>" or "module:Class")')
    table.add_column("name", style="bold")
    table.add_column("class")
    table.add_column("timeframe")
    table.add_column("parameters")
    for name, cls in found.items():
        params = "\n".join(_describe(key, field) for key, field in cls.Params.model_fields.items())
        table.add_row(name, f"{cls.__module__}:{cls.__name__}", cls.timeframe, params or "-")
    print_table(table)


def _paths(config: Path | None, strategy_path: list[Path] | None) -> list[Path]:
    # The config's [strategies] paths (after --strategy-path) when there is a config file;
    # without one, the --strategy-path directories alone.
    if config is None and not DEFAULT_CONFIG_PATH.is_file():
        for path in strategy_path or []:
            if not path.is_dir():
                raise fail(f"--strategy-path {path}: not a directory")
        return [p.resolve() for p in strategy_path or []]
    return list(load(config, strategy_path).strategies.paths)


def _describe(key: str, field: FieldInfo) -> str:
    default: Any = field.get_default(call_default_factory=True)
    text = f"{key} = {default!r}"
    return f"{text}: {field.description}" if field.description else text
