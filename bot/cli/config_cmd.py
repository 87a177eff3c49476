"""`ltbot config check` and `ltbot config show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, StrategyPathOption, fail, load
from bot.config.settings import DEFAULT_CONFIG_PATH, redacted_config, summary


def config_check(
    path: Annotated[
        Path | None,
        typer.Argument(help="Config file to check (same as --config).", show_default=False),
    ] = None,
    config: ConfigOption = None,
    strategy_path: StrategyPathOption = None,
) -> None:
    """Validate a config file and the LTBOT_* environment; print a one-line summary."""
    if path is not None and config is not None and path != config:
        raise fail(f"two config files given: {path} and --config {config}")
    target = _existing(config or path)
    settings = load(target, strategy_path)
    typer.echo(f"{target}: {summary(settings)}")


def config_show(config: ConfigOption = None, strategy_path: StrategyPathOption = None) -> None:
    """Print the effective config (file plus LTBOT_* environment) as TOML, secrets redacted."""
    target = _existing(config)
    settings = load(target, strategy_path)
    document = redacted_config(settings)
    for shown, experiment in zip(document["experiments"], settings.experiments, strict=True):
        # Vehicles in the config's own syntax ("perp:risk_pct=0.02"), not as parsed tables.
        shown["vehicles"] = [vehicle.label for vehicle in experiment.vehicles]
    typer.echo(f"# effective config: {target} plus LTBOT_* environment; secrets shown as ***")
    typer.echo(render_toml(document), nl=False)


def _existing(path: Path | None) -> Path:
    target = path or DEFAULT_CONFIG_PATH
    if not target.is_file():
        raise fail(f"{target}: config file not found (start from config.example.toml)")
    return target


def render_toml(document: dict[str, Any]) -> str:
    """`document` (JSON-like) as TOML: sections as tables, lists of tables as `[[name]]`;
    keys whose value is None (unset) are left out, since TOML has no null."""
    lines: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()) and value:
            for name, table in value.items():  # e.g. [presets.<name>]
                lines += ["", f"[{key}.{_key(name)}]", *_pairs(table)]
        elif isinstance(value, dict):
            lines += ["", f"[{key}]", *_pairs(value)]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for table in value:
                lines += ["", f"[[{key}]]", *_pairs(table)]
        elif value is not None:
            lines.insert(0, f"{_key(key)} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _pairs(table: dict[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
