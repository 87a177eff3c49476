"""ltbot: leveraged tokens versus stop-loss perpetuals, paper-traded on live exchange data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ltbot")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
