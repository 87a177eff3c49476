"""Branch coverage of the fast walks by the property tests (issue 13: must be 100 %).

    .venv/bin/python scripts/walk_coverage.py

Runs tests/property under coverage.py with branch coverage and prints, for each walk function
(the fast paths, the runner code that calls them, and the token triggers at the crossing that
the differential tests compare them with), its missing lines and branches; exits 1 when any is
not fully covered. Needs pytest-cov (a dev dependency).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALKS = {
    "bot/domain/leveraged_token.py": ("Drift", "walk_quiet", "_crossing"),
    "bot/domain/token_spec.py": ("in_zone", "exit_price"),
    "bot/domain/perp.py": ("walk_quiet",),
    "bot/portfolios/tokens.py": ("on_path", "_on_point"),
    "bot/portfolios/accounts.py": ("on_path",),
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "coverage.json"
        modules = [f"--cov={path[:-3].replace('/', '.')}" for path in WALKS]
        command = [sys.executable, "-m", "pytest", "tests/property", "-q", "-p", "no:cacheprovider"]
        command += [*modules, "--cov-branch", f"--cov-report=json:{report}"]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        files = json.loads(report.read_text())["files"]
    gaps = 0
    for path, names in WALKS.items():
        data = files[path]
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
                span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
                lines = [n for n in data["missing_lines"] if n in span]
                branches = [b for b in data.get("missing_branches", []) if b[0] in span]
                gaps += len(lines) + len(branches)
                status = "100 %" if not (lines or branches) else f"missing {lines} {branches}"
                print(f"{path}:{node.lineno} {node.name}: {status}")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
