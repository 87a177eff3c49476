"""The written-out `__init__`s of the hot records (FAST_INIT in bot/domain/frozen.py) build
exactly what the generated ones would: every field in order, with its default, through
`__post_init__` when the class has one."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any

import pytest

from bot.native import HOT


def _written_out() -> list[type]:
    # Every dataclass of the compiled modules whose __init__ is its own source, not the one
    # `dataclass` generates (whose code lives in "<string>").
    found = []
    for path in HOT:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls)):
                continue
            if cls.__module__ != module.__name__ or "__init__" not in vars(cls):
                continue
            # Compiled (`make compile`), a written-out __init__ has no code object at all.
            code = getattr(cls.__init__, "__code__", None)
            if code is None or code.co_filename != "<string>":
                found.append(cls)
    return found


WRITTEN_OUT = _written_out()


def test_the_hot_records_are_written_out() -> None:
    names = {cls.__name__ for cls in WRITTEN_OUT}
    assert {"TokenState", "PerpPosition", "PerpAccount", "PositionRecord", "Records"} <= names


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda c: c.__name__)
def test_parameters_are_the_fields_in_order_with_their_defaults(cls: type) -> None:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    passed = [f for f in fields if f.default_factory is dataclasses.MISSING]
    parameters = list(_signature(cls).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in passed]
    for parameter, f in zip(parameters, passed, strict=True):
        expected = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        # equal and of the same type: 0 for 0.0 would change what the state codec writes
        assert parameter.default == expected, f.name
        assert type(parameter.default) is type(expected), f.name
        assert str(parameter.annotation) == str(f.type), f.name  # the annotations' text
    # A field with a default factory is not a parameter: it starts as a fresh default.
    made = [f for f in fields if f.default_factory is not dataclasses.MISSING]
    if made:
        first, second = cls(), cls()
        for f in made:
            assert getattr(first, f.name) == f.default_factory()  # type: ignore[misc]
            assert getattr(first, f.name) is not getattr(second, f.name)


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda c: c.__name__)
def test_each_value_lands_in_its_own_field_then_post_init_runs(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    if hasattr(cls, "__post_init__"):  # record the call instead of validating sentinels
        monkeypatch.setattr(cls, "__post_init__", lambda self: calls.append(self))
    parameters = list(_signature(cls).parameters)[1:]
    values = {name: object() for name in parameters}  # a distinct value per field
    record = cls(**values)
    assert {name: getattr(record, name) for name in parameters} == values
    assert calls == ([record] if hasattr(cls, "__post_init__") else [])
    if cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, parameters[0], 1)


def _signature(cls: type) -> inspect.Signature:
    # A compiled __init__ shows no parameters (`(self, /, *args, **kwargs)`) and checks the
    # types of its arguments: the plain build (the one `make test` tests) checks these.
    signature = inspect.signature(cls.__init__)
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        pytest.skip(f"{cls.__name__}.__init__ is compiled (make compile)")
    return signature
