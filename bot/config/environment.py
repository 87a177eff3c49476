"""`LTBOT_<SECTION>__<KEY>` environment overrides: how their text becomes config values.

pydantic-settings reads a list, a table or a section from the environment as JSON. On top of
that: a list of plain values (symbols, paths) may be comma-separated (`BTC/USDT:USDT,ETH/USDT:
USDT`; a value starting with '[' or '{' is read as JSON), and `LTBOT_EXPERIMENTS__<i>__<KEY>`
overrides one key of the i-th `[[experiments]]` table of the file (pydantic-settings itself
would replace the whole list with a table and fail). A value that cannot be read is one
`ConfigError` naming the variable.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

ENV_PREFIX = "LTBOT_"
_SCALARS = (str, int, float, Path)
# LTBOT_EXPERIMENTS__<index>__<key>[__<key>...]: one key of one experiment of the file.
_INDEXED = re.compile(r"^ltbot_experiments__(\d+)__(.+)$", re.IGNORECASE)


class EnvValueError(ValueError):
    """An environment value that cannot be read (the message names the variable)."""


class EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, with comma-separated lists of plain values and
    without the per-experiment variables (`apply_experiment_overrides` merges those)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in super()._load_env_vars().items() if not _INDEXED.match(k)}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """Split a comma-separated list of plain values; read anything else as JSON."""
        if field is not None and _is_scalar_list(field.annotation) and not _looks_json(value):
            return split_list(value)
        return super().decode_complex_value(field_name, field, value)


def split_list(value: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"]; ValueError for an empty item."""
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ValueError("empty item in the comma-separated list")
    return items


def check_environment(root: type[BaseModel], environ: Mapping[str, str]) -> None:
    """Raise EnvValueError for the first `LTBOT_` variable whose text cannot be read."""
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(ENV_PREFIX) or not value or _INDEXED.match(name):
            continue
        annotation = _annotation(root, name[len(ENV_PREFIX) :].lower().split("__"))
        if annotation is not None:
            read_value(name, annotation, value)


def read_value(name: str, annotation: Any, value: str) -> Any:
    """The config value of one variable's text for a key of type `annotation`."""
    kind = _kind(annotation)
    if kind == "scalar list" and not _looks_json(value):
        try:
            return split_list(value)
        except ValueError as exc:
            raise EnvValueError(f"{name}: {exc} {value!r}") from None
    if kind is None:
        return value  # pydantic converts and validates plain values itself
    try:
        decoded = json.loads(value)
    except ValueError:
        expected = "list or a comma-separated list" if kind == "scalar list" else kind
        raise EnvValueError(f"{name}: not valid JSON (expected a JSON {expected})") from None
    return decoded


def apply_experiment_overrides(
    root: type[BaseModel], document: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """`document` with every `LTBOT_EXPERIMENTS__<i>__<key>` applied to its i-th experiment."""
    result = dict(document)
    indexed = sorted((n, v) for n, v in environ.items() if _INDEXED.match(n))
    if not indexed:
        return result
    whole = [n for n in environ if n.upper() == "LTBOT_EXPERIMENTS"]
    experiments = copy.deepcopy(result.get("experiments", []))
    for name, value in indexed:
        match = _INDEXED.match(name)
        assert match is not None  # filtered above
        index, keys = int(match[1]), match[2].lower().split("__")
        if whole:
            raise EnvValueError(f"{name}: cannot be combined with {whole[0]}")
        if not isinstance(experiments, list) or index >= len(experiments):
            count = len(experiments) if isinstance(experiments, list) else 0
            raise EnvValueError(
                f"{name}: there is no experiments[{index}] (the config has {count})"
            )
        annotation = _annotation(root, ["experiments", "0", *keys])
        target = experiments[index]
        for key in keys[:-1]:
            if not isinstance(target, dict):
                raise EnvValueError(f"{name}: experiments[{index}] has no table there")
            target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise EnvValueError(f"{name}: experiments[{index}] has no table there")
        target[keys[-1]] = read_value(name, annotation, value) if annotation else value
        if annotation is Any:  # a strategy parameter: 10, 2.5, true as numbers and booleans
            target[keys[-1]] = _plain(value)
    result["experiments"] = experiments
    return result


def _plain(value: str) -> Any:
    # A JSON number or boolean as such; any other text (a name, a list) stays the string given.
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, bool | int | float) else value


def _annotation(root: type[BaseModel], keys: list[str]) -> Any:
    # The type of the key at `keys` (None when unknown: the model then reports it by name).
    # A list's index ("0") steps into its item type; a dict's key into its value type.
    annotation: Any = root
    for key in keys:
        annotation = _without_none(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(key)
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list and key.isdigit():
            annotation = get_args(annotation)[0]
        else:
            return None
    return annotation


def _kind(annotation: Any) -> str | None:
    # "scalar list", "list" or "object" for a key the environment gives as a list or JSON.
    annotation = _without_none(annotation)
    if _is_scalar_list(annotation):
        return "scalar list"
    if get_origin(annotation) in (list, tuple, set):
        return "list"
    if get_origin(annotation) is dict or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ):
        return "object"
    return None


def _is_scalar_list(annotation: Any) -> bool:
    annotation = _without_none(annotation)
    args = get_args(annotation)
    return get_origin(annotation) is list and len(args) == 1 and args[0] in _SCALARS


def _looks_json(value: Any) -> bool:
    return not isinstance(value, str) or value.lstrip().startswith(("[", "{"))


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) not in (Union, UnionType):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation
