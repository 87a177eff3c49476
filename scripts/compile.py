"""Compile ltbot's hot path with mypyc (`make compile`), or remove the compiled build (--clean).

The modules of `bot.native.HOT` become C extensions beside their sources in this tree (see
bot/native.py). Needs a C compiler and the Python headers (gcc here); mypyc comes with mypy (the
dev extra). The build happens in a temporary directory, so this project's pyproject.toml is
not read by the setuptools that mypyc drives.

Run: .venv/bin/python scripts/compile.py [--clean]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bot.native import HOT, LIBRARY, PACKAGE  # noqa: E402


def clean() -> int:
    """Remove every compiled extension from the package; return how many."""
    built = [p for p in PACKAGE.rglob("*.so")]
    for path in built:
        path.unlink()
    return len(built)


def build() -> None:
    """Compile `HOT` into a temporary directory, then copy the extensions into the tree."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    clean()  # never mix a new build with an old one
    with tempfile.TemporaryDirectory(prefix="ltbot-compile-") as tmp:
        here = Path.cwd()
        os.chdir(tmp)
        try:
            modules = mypycify(
                # mypy's options for this project (pydantic's plugin) from its pyproject.toml
                ["--config-file", str(ROOT / "pyproject.toml"), *(str(ROOT / p) for p in HOT)],
                opt_level="3",
                target_dir=str(Path(tmp) / "c"),
                group_name=f"bot.{LIBRARY}",
            )
            dist = Distribution({"name": "ltbot-native", "ext_modules": modules})
            command = dist.get_command_obj("build_ext")
            command.build_lib = str(Path(tmp) / "lib")  # type: ignore[attr-defined]
            command.build_temp = str(Path(tmp) / "obj")  # type: ignore[attr-defined]
            dist.run_command("build_ext")
        finally:
            os.chdir(here)
        built = Path(tmp) / "lib"
        for path in built.rglob("*.so"):
            target = ROOT / path.relative_to(built)
            shutil.copy2(path, target)
    print(f"compiled {len(HOT)} modules into {PACKAGE} (`make uncompile` removes them)")


def main() -> None:
    """Parse --clean and build or clean."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clean", action="store_true", help="remove the compiled build")
    if parser.parse_args().clean:
        print(f"removed {clean()} compiled files from {PACKAGE}")
    else:
        build()


if __name__ == "__main__":
    main()
