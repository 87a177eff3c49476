"""JSON encoding of domain state (frozen dataclasses, enums, datetimes) for crash-only resume.

Only classes from the `bot.` package are ever rebuilt, so a tampered state row cannot make the
decoder import arbitrary code.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from datetime import datetime
from enum import Enum
from typing import Any

_ALLOWED_PREFIX = "bot."


def encode(value: Any) -> Any:
    """Turn a state value into JSON-able data (with type tags)."""
    # Exact types first (the bulk of a state: numbers, strings, lists, dicts, dataclasses of
    # known classes); subclasses (enums, named tuples, ...) take the general path below.
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): encode(v) for k, v in value.items()}
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {"__tuple__": [encode(v) for v in value]}
    if kind is datetime:
        return {"__dt__": value.isoformat()}
    known = _DATACLASSES.get(kind)
    if known is not None:
        path, names = known
        return {"__dc__": path, "f": {name: encode(getattr(value, name)) for name in names}}
    return _encode_other(value)


# A dataclass type -> (its path, its field names): looked up once per class.
_DATACLASSES: dict[type, tuple[str, tuple[str, ...]]] = {}


def _encode_other(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in dataclasses.fields(value))
        _DATACLASSES[type(value)] = (_path(type(value)), names)
        return encode(value)
    if isinstance(value, Enum):
        return {"__enum__": _path(type(value)), "v": value.value}
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted((encode(v) for v in value), key=json.dumps)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(data: Any) -> Any:
    """Rebuild a value written by `encode`."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__dc__" in data:
        cls = _load(data["__dc__"])
        return cls(**{k: decode(v) for k, v in data["f"].items()})
    if "__enum__" in data:
        return _load(data["__enum__"])(data["v"])
    if "__dt__" in data:
        return datetime.fromisoformat(data["__dt__"])
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(decode(v) for v in data["__tuple__"])
    if "__set__" in data:
        return frozenset(decode(v) for v in data["__set__"])
    return {k: decode(v) for k, v in data.items()}


def dumps(value: Any) -> str:
    """Encode to canonical JSON text (sorted keys), so equal states give equal text."""
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"))


def loads(text: str) -> Any:
    """Decode JSON text written by `dumps`."""
    return decode(json.loads(text))


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _load(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    if not module_name.startswith(_ALLOWED_PREFIX):
        raise ValueError(f"refusing to load state class {path!r} outside the bot package")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
