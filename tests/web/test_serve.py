"""`ltbot serve` (issue 18 point 6): the read-only web view over a ledger that the daemon is
writing (real daemon against the sim exchange, real uvicorn, headless Chromium): the page loads
with no console message, shows the new step after a refresh, escapes every user string; the
JSON API; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange
from tests.chromium_kit import console_lines, open_page
from tests.e2e.harness import Daemon, drive, write_config

NAME = '<b id="x">btc</b> & "sma"'  # an experiment name a page must show as text
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve-screenshot.png"
EVERY = timedelta(minutes=40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[SimExchange, Daemon, Path, str]]:
    """A daemon writing a ledger through the sim, and `ltbot serve` over that ledger."""
    with SimExchange(None, speed=0) as sim:
        config = write_config(tmp_path, sim.url, vehicles='["perp:risk_pct=0.02", "spot"]')
        text = config.read_text(encoding="utf-8").replace('"btc-sma"', json.dumps(NAME))
        config.write_text(text, encoding="utf-8")
        db = tmp_path / "ledger.db"
        daemon = Daemon(config, tmp_path / "daemon.log")
        start = sim.data_start + timedelta(days=2, minutes=20)
        sim.set_time(start)
        daemon.start()
        drive(sim, daemon, db, [start, start + EVERY])
        port = _free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--db", str(db), "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url)
            yield sim, daemon, db, url
        finally:
            serve.terminate()
            assert serve.wait(timeout=10) == 0
            assert daemon.stop() == 0


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/api/status", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} never answered")


def _get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_page_follows_the_daemon_and_escapes_names(
    server: tuple[SimExchange, Daemon, Path, str], tmp_path: Path
) -> None:
    sim, daemon, db, url = server
    # Act: the page now, then after one more committed step
    first = open_page(url + "/", tmp_path, "--dump-dom")
    step = sim.now() + EVERY
    drive(sim, daemon, db, [step])
    second = open_page(url + "/", tmp_path, "--dump-dom")
    report = open_page(url + "/report/today", tmp_path, "--dump-dom")
    # Assert: no console message; the new step shows; the name is text, not markup
    assert console_lines(first.stderr + second.stderr + report.stderr) == []
    assert f"as of {(step - EVERY):%Y-%m-%d %H:%M}" in first.stdout
    assert f"as of {step:%Y-%m-%d %H:%M}" in second.stdout
    assert '&lt;b id="x"&gt;btc&lt;/b&gt; &amp; "sma"' in second.stdout
    assert '<b id="x">' not in second.stdout + report.stdout
    assert "ltbot report" in report.stdout
    shot = tmp_path / "serve.png"
    open_page(url + "/", tmp_path, "--hide-scrollbars", f"--screenshot={shot}",
              "--window-size=1100,700")  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("LTBOT_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())


def test_the_json_api_and_its_headers(server: tuple[SimExchange, Daemon, Path, str]) -> None:
    _, _, _, url = server
    status, headers, body = _get(url + "/api/status")
    data = json.loads(body)
    assert status == 200 and headers["Content-Security-Policy"].startswith("default-src 'none'")
    ids = sorted(p["id"] for p in data["portfolios"])
    assert ids == [f"{NAME}/perp:risk_pct=0.02", f"{NAME}/spot"]
    assert all(p["nav"] is not None and p["capital"] == 10000.0 for p in data["portfolios"])
    pid = urllib.parse.quote(f"{NAME}/spot")
    status, _, body = _get(f"{url}/api/nav/{pid}?limit=1")
    nav = json.loads(body)["nav"]
    assert status == 200 and len(nav) == 1 and nav[0]["at"].endswith("Z")
    assert _get(url + "/api/nav/x?limit=many")[0] == 400
    assert _get(url + "/report/2024-02-30")[0] == 404


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"not a database at all" * 100)
    for db, message in ((missing, "no such database"), (foreign, "not a usable SQLite")):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("error: ") and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
