"""`evolve`: `dataclasses.replace` for the domain's frozen records, about twice as fast.

`dataclasses.replace` looks at every field's metadata on each call; a replay calls it tens of
thousands of times per portfolio (a fund re-priced, a position's trailing best, an account after
funding). `evolve` reads the field layout of a class once and then builds the copy the same way
`replace` does: the class called with every field's value, so `__post_init__` still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")
_Getter = Callable[[Any], tuple[Any, ...]]

# Per class: a getter of every field's value (in field order) and each field's position.
_LAYOUTS: dict[type, tuple[_Getter, dict[str, int]]] = {}


def evolve(obj: T, **changes: Any) -> T:
    """Return a copy of dataclass `obj` with `changes` applied (as `dataclasses.replace`)."""
    cls = type(obj)
    layout = _LAYOUTS.get(cls) or _layout(cls)
    values = list(layout[0](obj))
    where = layout[1]
    for name, value in changes.items():
        if name not in where:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        values[where[name]] = value
    return cls(*values)


def _layout(cls: type) -> tuple[_Getter, dict[str, int]]:
    # Positional construction needs every field in __init__, in order, and not keyword-only.
    if not is_dataclass(cls):
        raise TypeError(f"evolve() needs a dataclass instance, got {cls.__name__}")
    names = []
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"evolve() cannot copy {cls.__name__}.{f.name} (init=False/kw_only)")
        names.append(f.name)
    if len(names) != cls.__init__.__code__.co_argcount - 1:  # an InitVar
        raise TypeError(f"evolve() cannot copy {cls.__name__}: __init__ takes other arguments")
    # attrgetter of two or more names returns a tuple; of one, the value itself.
    getter: _Getter = (
        attrgetter(*names) if len(names) > 1 else lambda o: tuple(getattr(o, n) for n in names)
    )
    layout = _LAYOUTS[cls] = (getter, {name: i for i, name in enumerate(names)})
    return layout
