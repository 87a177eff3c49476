"""ltbot: leveraged tokens versus stop-loss perpetuals, paper-traded on live exchange data."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bot.native import check_fresh

check_fresh()  # a compiled hot path (`make compile`) older than its sources would run old code

try:
    __version__ = version("ltbot")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "simulate_token"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import bot` does not import pandas (only bot.simulate needs it).
    if name == "simulate_token":
        from bot.simulate import simulate_token

        return simulate_token
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
