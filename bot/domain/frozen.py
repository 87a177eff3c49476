"""`evolve`: `dataclasses.replace` for the domain's frozen records, about twice as fast.

`dataclasses.replace` looks at every field's metadata on each call; a replay calls it tens of
thousands of times per portfolio (a fund re-priced, a position's trailing best, an account after
funding). `evolve` reads the field layout of a class once and then builds the copy the same way
`replace` does: the class called with every field's value, so `__post_init__` still runs.

FAST_INIT: the records built at every step or more (`TokenState`, `PerpPosition`, `PerpAccount`,
`PositionRecord`, ...) write their `__init__` out instead of letting `dataclass` generate it.
The generated one is Python source run by the interpreter, also in the compiled build (`make
compile`), where building a 12-field frozen record took ~1.2 us; a written-out `__init__` is
compiled with its class and takes about a fifth of that (the `object.__setattr__` calls become
direct slot stores). Both build the same record: same fields, order, defaults and
`__post_init__`; tests/domain/test_fast_init.py checks each against its fields.
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
    # A compiled __init__ has no code object to count its arguments: FAST_INIT classes are
    # checked against their fields by the tests instead.
    code = getattr(cls.__init__, "__code__", None)
    if code is not None and len(names) != code.co_argcount - 1:  # an InitVar
        raise TypeError(f"evolve() cannot copy {cls.__name__}: __init__ takes other arguments")
    # attrgetter of two or more names returns a tuple; of one, the value itself.
    getter: _Getter = (
        attrgetter(*names) if len(names) > 1 else lambda o: tuple(getattr(o, n) for n in names)
    )
    layout = _LAYOUTS[cls] = (getter, {name: i for i, name in enumerate(names)})
    return layout
