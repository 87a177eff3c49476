"""The compiled build (`make compile`, bot/native.py) gives exactly the plain build's results.

Two copies of this tree: one plain, one compiled by scripts/compile.py (mypyc; about a minute
of one core). The same study and the same replay run in each, each in its own process, and the
study's `cells` and `results` tables and the replay's whole ledger must be equal value by value
(floats compared by repr, so every bit). This is the differential test of the compiled fast
path against the plain domain path.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from importlib.util import find_spec
from pathlib import Path

import pytest

from bot.native import HOT
from tests.study.kit import study_doc, write_toml

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"
SHARED_1H = REPO.parent / "shared" / "data" / "binance_usdm" / "1h"
_CC = (sysconfig.get_config_var("CC") or "cc").split()[0]

pytestmark = pytest.mark.skipif(
    shutil.which(_CC) is None or find_spec("mypyc") is None,
    reason=f"the compiled build needs a C compiler ({_CC}) and mypyc (the dev extra)",
)


def _copy(root: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.so")
    for name in ("bot", "strategies"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    (root / "scripts").mkdir()
    for name in ("compile.py", "dump_ledger.py"):
        shutil.copy2(REPO / "scripts" / name, root / "scripts" / name)
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A plain and a compiled copy of this tree."""
    plain = _copy(tmp_path_factory.mktemp("plain"))
    compiled = _copy(tmp_path_factory.mktemp("compiled"))
    done = run(compiled, str(compiled / "scripts" / "compile.py"), timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return {"plain": plain, "compiled": compiled}


def run(tree: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Python with `tree` first on the path (its `bot` and `strategies`), in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=tree, env=env,
        timeout=timeout, check=False,
    )  # fmt: skip


def ltbot(tree: Path, *args: str) -> str:
    """Run `ltbot` from `tree`; its stdout (the test fails on a non-zero exit)."""
    done = run(tree, "-m", "bot", *args)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def rows(db: Path, *tables: str) -> list[str]:
    """Every row of `tables`, sorted, values by repr."""
    with sqlite3.connect(db) as con:
        return sorted(
            f"{table} {[repr(value) for value in row]}"
            for table in tables
            for row in con.execute(f"SELECT * FROM {table}")
        )


def test_the_compiled_tree_loads_every_hot_module_compiled(trees: dict[str, Path]) -> None:
    probe = "import bot.study.worker, bot.native as n; print(len(n.compiled()))"
    assert run(trees["compiled"], "-c", probe).stdout.split() == [str(len(HOT))]
    assert run(trees["plain"], "-c", probe).stdout.split() == ["0"]


def test_a_study_gives_the_same_results_compiled(trees: dict[str, Path]) -> None:
    dumps = []
    for tree in trees.values():
        config = write_toml(tree / "study.toml", study_doc(tree / "study.db"))
        ltbot(tree, "study", "run", "-c", str(config), "--workers", "1")
        dumps.append(rows(tree / "study.db", "cells", "results"))
    assert dumps[0] and dumps[0] == dumps[1]


def test_a_replay_writes_the_same_ledger_compiled(trees: dict[str, Path]) -> None:
    dumps = []
    for tree in trees.values():
        # The ledger keeps the run's config, database path included: the same relative one.
        config = SAMPLE.parent / "config.example.toml"
        ltbot(tree, "replay", "--data", str(SAMPLE), "--config", str(config),
              "--from", "2024-03-01", "--to", "2024-03-15", "--db", "replay.db")  # fmt: skip
        dumps.append(run(tree, "scripts/dump_ledger.py", "replay.db").stdout)
    assert "fills" in dumps[0] and dumps[0] == dumps[1]


@pytest.mark.shared_data
def test_the_bench_study_gives_the_same_results_compiled(trees: dict[str, Path]) -> None:
    # The first months of the benchmark study (scripts/bench_study.py): 90-day windows of BTC
    # 1h, hold and sma_cross, the 7 vehicles: stops, liquidations, rebalances.
    if not SHARED_1H.is_dir():
        pytest.skip(f"{SHARED_1H} not found")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from bench_study import study_doc as bench_doc
    finally:
        sys.path.remove(str(REPO / "scripts"))
    dumps = []
    for tree in trees.values():
        doc = bench_doc(tree / "bench.db", True)
        doc["study"]["symbols"] = ["BTC/USDT:USDT"]  # 6 cells: 3 windows x 2 strategies
        doc["windows"]["to"] = "2020-03-01"
        config = write_toml(tree / "bench.toml", {**doc, "presets": {}})
        with config.open("a", encoding="utf-8") as f:
            f.write("[presets.binance_blvt]\ntarget_leverage = 2.25\n")
        ltbot(tree, "study", "run", "-c", str(config), "--workers", "1")
        dumps.append(rows(tree / "bench.db", "cells", "results"))
    assert len(dumps[0]) > 20 and dumps[0] == dumps[1]


def test_bad_vehicle_parameters_get_the_same_error_compiled(trees: dict[str, Path]) -> None:
    # Config values may come as text: the compiled build must not turn a clear error into a
    # bare TypeError (bot/native.py leaves the parameter modules plain).
    outputs = []
    for tree in trees.values():
        doc = study_doc(tree / "bad.db")
        doc["vehicles"] = [{"use": "perp:slippage_bps=lots"}, {"use": "perp:risk_pct=0.03"}]
        config = write_toml(tree / "bad.toml", doc)
        done = run(tree, "-m", "bot", "study", "run", "-c", str(config))
        outputs.append((done.returncode, done.stderr.replace(str(tree), "TREE")))
    assert outputs[0][0] == 2 and "slippage_bps must be a number, got 'lots'" in outputs[0][1]
    assert outputs[0] == outputs[1]


def test_a_source_newer_than_the_compiled_build_is_refused(trees: dict[str, Path]) -> None:
    # Runs last: it ends with the compiled copy removed (`scripts/compile.py --clean`).
    tree = trees["compiled"]
    source = tree / HOT[0]
    [library] = (tree / "bot").glob("_native__mypyc.*")
    os.utime(source, (source.stat().st_atime, library.stat().st_mtime + 60))  # edited after
    command = run(tree, "-m", "bot", "--help")
    probe = "try:\n  import bot\nexcept ImportError as e:\n  print(type(e).__name__)"
    in_process = run(tree, "-c", probe)
    message = f"error: {HOT[0]} changed after `make compile`: run `make compile` again"
    # A command: one line and exit 2; imported in Python (a notebook, a test): an ImportError.
    assert command.returncode == 2 and command.stdout == ""
    assert command.stderr.splitlines() == [message + " (or `make uncompile` for the plain build)"]
    assert in_process.stdout.split() == ["StaleBuildError"]
    # The way back works from the stale build: the compile script reads its module list
    # without importing `bot` (`make compile`), and `make uncompile` removes the build.
    listed = run(
        tree, "-c", "import runpy; print(len(runpy.run_path('scripts/compile.py')['native']().HOT))"
    )
    assert listed.stdout.split() == [str(len(HOT))], listed.stderr
    cleaned = run(tree, "scripts/compile.py", "--clean")
    assert cleaned.returncode == 0 and "removed the compiled build" in cleaned.stdout
    assert run(tree, "-m", "bot", "--help").returncode == 0
