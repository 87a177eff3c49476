"""The optional compiled build of the hot path (`make compile`; `make uncompile` undoes it).

The modules in `HOT` run at every portfolio-bar step of a replay or a study. `make compile`
(scripts/compile.py) compiles them with mypyc, the compiler mypy ships with, into C extensions
beside their sources: one shared library `bot/_native__mypyc.*.so` holds the code and a small
`<module>.*.so` per module loads it. Python then imports those instead of the `.py` files, so
every command, the study's pool workers and Dask workers started from this tree run compiled.
Results are identical to the plain build (tests/study/test_compiled.py compares both).

A compiled module older than its source would run old code silently: `check_fresh` (called when
`bot` is imported) refuses that with one line naming the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

_Hook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]

PACKAGE = Path(__file__).resolve().parent
LIBRARY = "_native"  # mypyc group name within `bot`: the shared library is `bot._native__mypyc`

HOT: tuple[str, ...] = (
    "bot/domain/bookings.py",
    "bot/domain/frozen.py",
    "bot/domain/leveraged_token.py",
    "bot/domain/liquidation.py",
    "bot/domain/perp.py",
    "bot/domain/perp_account.py",
    "bot/domain/perp_funding.py",
    "bot/domain/perp_signals.py",
    "bot/domain/price_path.py",
    "bot/domain/rebalance_rules.py",
    "bot/domain/records.py",
    "bot/domain/token_records.py",
    "bot/domain/token_schedule.py",
    "bot/domain/token_state.py",
    "bot/domain/values.py",
    "bot/portfolios/accounts.py",
    "bot/portfolios/protocol.py",
    "bot/portfolios/tokens.py",
    "bot/engine/bars.py",
    "bot/engine/engine.py",
    "bot/engine/quote_span.py",
    "bot/engine/timeline.py",
    "bot/engine/validation.py",
    "bot/study/fold.py",
    "bot/study/sink.py",
    "bot/reports/decay.py",
    "bot/reports/metrics.py",
    "bot/reports/points.py",
)
"""Source files compiled by `make compile`, relative to the project root. Left out on purpose:
- where bad input must get its clear error: compiled code checks the types of arguments and
  fields itself and raises a bare TypeError first ("float object expected; got str"). So the
  vehicles' parameters (`perp_params.py`, `sizing.py`, `spot.py`: config values may come as
  text), the presets (`token_spec.py`, whose overrides also read field annotations, which mypyc
  does not keep as text) and the check of a strategy's signals (`strategy_guard.py`: a plugin
  may return anything) stay plain Python;
- the data screens that log (`candle_screen.py`, `funding_screen.py`): loguru names a record
  after the nearest Python frame, which compiled code does not have, so their warnings would
  carry the caller's module name (the engine's and the runners' rare warnings do);
- `bot/strategy.py`: mypyc cannot compile its pydantic import."""


def library() -> Path | None:
    """The compiled shared library in this tree, or None (the plain build)."""
    return next(PACKAGE.glob(f"{LIBRARY}__mypyc.*"), None)


def compiled() -> list[str]:
    """The `HOT` modules loaded so far from a compiled extension (dotted names)."""
    names = [path.removesuffix(".py").replace("/", ".") for path in HOT]
    return [n for n in names if getattr(sys.modules.get(n), "__file__", "").endswith(".so")]


def stale() -> list[str]:
    """`HOT` sources changed after the shared library was built (empty in the plain build)."""
    built = library()
    if built is None:
        return []
    root, made = PACKAGE.parent, built.stat().st_mtime
    return [path for path in HOT if (root / path).stat().st_mtime > made]


class StaleBuildError(ImportError):
    """A compiled module is older than its source: it would run the old code."""


def check_fresh() -> None:
    """Raise StaleBuildError naming the first source newer than the compiled build.

    Uncaught (a command run from a shell), it prints one `error:` line and exits with 2, like
    every other problem a user can mend; in a notebook or a test it is a plain ImportError."""
    changed = stale()
    if changed:
        sys.excepthook = _one_line(sys.excepthook)
        raise StaleBuildError(
            f"{changed[0]} changed after `make compile`: run `make compile` again "
            "(or `make uncompile` for the plain build)"
        )


def _one_line(previous: _Hook) -> _Hook:
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(value, StaleBuildError):
            previous(kind, value, tb)
            return
        sys.stderr.write(f"error: {value}\n")
        sys.stderr.flush()
        os._exit(2)  # the interpreter would exit with 1 after any hook

    return hook
