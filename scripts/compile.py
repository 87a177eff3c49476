"""Compile ltbot's hot path with mypyc (`make compile`), or remove the compiled build (`--clean`,
`make uncompile`).

The modules listed in bot/native.py (HOT) become C extensions beside their sources; Python then
imports those instead of the .py files. Needs a C compiler and the Python headers, and mypyc,
which comes with mypy (the dev extra). Takes about a minute.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def native() -> ModuleType:
    """bot/native.py loaded on its own: importing the `bot` package would refuse a stale build,
    which is exactly what this script must be able to replace or remove."""
    spec = importlib.util.spec_from_file_location("ltbot_native", ROOT / "bot" / "native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean() -> int:
    """Remove every compiled extension from the package; return how many files."""
    built = list((ROOT / "bot").rglob("*.so"))
    for path in built:
        path.unlink()
    return len(built)


def build(hot: tuple[str, ...], library: str) -> None:
    """Compile `hot` in a temporary directory (this project's pyproject.toml is then not read
    by the setuptools that mypyc drives), then copy the extensions into the tree."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    clean()  # never mix a new build with an old one
    with tempfile.TemporaryDirectory(prefix="ltbot-compile-") as tmp:
        here = Path.cwd()
        os.chdir(tmp)
        try:
            modules = mypycify(
                # mypy's options for this project (pydantic's plugin) from its pyproject.toml
                ["--config-file", str(ROOT / "pyproject.toml"), *(str(ROOT / p) for p in hot)],
                opt_level="3",
                target_dir=str(Path(tmp) / "c"),
                group_name=f"bot.{library}",
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
            shutil.copy2(path, ROOT / path.relative_to(built))


def main() -> None:
    """Parse --clean and build or clean; one `error:` line and exit 2 when it cannot."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clean", action="store_true", help="remove the compiled build")
    args = parser.parse_args()
    if args.clean:
        print(f"removed the compiled build ({clean()} files) from {ROOT / 'bot'}")
        return
    if importlib.util.find_spec("mypyc") is None:
        sys.stderr.write("error: make compile needs mypyc, which mypy brings: pip install mypy\n")
        sys.exit(2)
    info = native()
    try:
        build(info.HOT, info.LIBRARY)
    except (Exception, SystemExit) as exc:  # setuptools reports a failed compiler as either
        clean()  # nothing half-built stays: the plain build runs
        sys.stderr.write(f"error: the compile failed ({exc}); the plain build stays in place\n")
        sys.exit(2)
    print(f"compiled {len(info.HOT)} modules into {ROOT / 'bot'} (`make uncompile` removes them)")


if __name__ == "__main__":
    main()
