"""Headless Chromium for tests: open a page or a URL, collect the console (Debian's chromium,
installed by scripts/install_chromium.sh; a test is skipped with the reason without it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Console messages (console.*, uncaught exceptions, failed loads) are logged as ":CONSOLE" lines.
CONSOLE = re.compile(r":CONSOLE|Uncaught", re.IGNORECASE)


def chromium() -> str:
    """The chromium binary, or skip the test."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.skip("chromium is not installed (scripts/install_chromium.sh installs Debian's)")


def open_page(target: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium on `target` (a URL) with `extra` flags (e.g. `--dump-dom`),
    offline: no host name resolves, loopback addresses still answer."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
        # offline: no name resolves (loopback addresses are excluded from the rule)
        "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        *extra, target,
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium could not run here: {exc}")
    if result.returncode != 0 and "--dump-dom" in extra and not result.stdout:
        pytest.skip(f"chromium failed to start (exit {result.returncode}): {result.stderr[-300:]}")
    return result


def console_lines(stderr: str) -> list[str]:
    """The console messages chromium logged."""
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]
