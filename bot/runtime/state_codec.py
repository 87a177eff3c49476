"""JSON encoding of domain state (frozen dataclasses, enums, datetimes) for crash-only resume.

Only classes from the `bot.` package are ever rebuilt, so a tampered state row cannot make the
decoder import arbitrary code.

The engine's resume state is stored in an envelope (`dump_resume_state`): a schema version and
the `module:Class` names the state needs, so a ledger written before a refactor still resumes
after it (classes that moved are listed in `MOVED`), and a state this code cannot read fails
at start-up with one line naming what is missing, never half-way through a restore.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from datetime import datetime
from enum import Enum
from typing import Any

_ALLOWED_PREFIX = "bot."

RESUME_SCHEMA = 2
"""Version of the resume-state envelope.

1: the engine's state dict itself (ltbot up to commit dca4d71, 2026-11), classes tagged inline.
2: `{"schema": 2, "classes": [...], "state": <the v1 payload>}`.
"""

MOVED: dict[str, str] = {
    # 2026-12-01, issue 19: a token fund's state left leveraged_token.py (still re-exported).
    "bot.domain.leveraged_token:TokenState": "bot.domain.token_state:TokenState",
    "bot.domain.leveraged_token:PendingRequest": "bot.domain.token_state:PendingRequest",
}
"""Classes of a stored state that now live elsewhere: old `module:Class` -> new. Every class a
resume state has ever named must resolve, directly or through here (add a line whenever one
moves; tests/test_state_codec.py checks each line against where the class is now)."""

_CLASS_TAG = re.compile(r'"__(?:dc|enum)__":"([^"]+)"')


class ResumeStateError(ValueError):
    """A stored resume state this code cannot read (newer schema, a class that is gone)."""


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


def dump_resume_state(state: Any) -> str:
    """Encode the engine's resume state in the current envelope (canonical JSON text)."""
    payload = dumps(state)
    classes = sorted(set(_CLASS_TAG.findall(payload)))
    head = json.dumps({"classes": classes, "schema": RESUME_SCHEMA}, separators=(",", ":"))
    # The payload is already canonical JSON: splice it in rather than encode the state twice.
    return f'{head[:-1]},"state":{payload}}}'


def load_resume_state(text: str) -> Any:
    """Decode a resume state of any known schema; raise ResumeStateError when it cannot be."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ResumeStateError("resume state is not a JSON object")
    schema = data.get("schema", 1)  # schema 1 had no envelope
    if schema == 1:
        classes = sorted(set(_CLASS_TAG.findall(text)))
        payload = data
    elif schema == RESUME_SCHEMA and isinstance(data.get("classes"), list) and "state" in data:
        classes, payload = data["classes"], data["state"]
    elif schema == RESUME_SCHEMA:
        raise ResumeStateError("resume state of schema 2 without its classes or state")
    else:
        raise ResumeStateError(
            f"resume state has schema {schema!r}; this ltbot reads 1..{RESUME_SCHEMA} "
            "(written by a newer version?)"
        )
    missing = [path for path in classes if not _resolvable(path)]
    if missing:
        raise ResumeStateError(
            f"resume state needs {', '.join(missing)}, which this ltbot does not have "
            "(add the new place to bot.runtime.state_codec.MOVED)"
        )
    return decode(payload)


def _resolvable(path: str) -> bool:
    try:
        _load(path)
    except (ImportError, AttributeError):
        return False
    return True


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _load(path: str) -> Any:
    module_name, _, qualname = MOVED.get(path, path).partition(":")
    if not module_name.startswith(_ALLOWED_PREFIX):
        raise ValueError(f"refusing to load state class {path!r} outside the bot package")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
