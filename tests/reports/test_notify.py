"""Webhooks against a loopback HTTP receiver: the three formats, and failures that never raise."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.reports.job import run_daily_report
from bot.reports.model import LedgerRows, build_report, period_for
from bot.reports.notify import post_webhook, summary_text, webhook_payload


class Receiver:
    """A loopback HTTP server recording every POST; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    thread.join()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING", format="{message}")
    yield messages
    logger.remove(sink)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("slack", {"text": "hello"}),
        ("discord", {"content": "hello"}),
        ("telegram", {"chat_id": "42", "text": "hello"}),
    ],
)
def test_each_format_posts_its_json_body(receiver: Receiver, fmt: Any, expected: Any) -> None:
    assert post_webhook(receiver.url + "/hook/secret", fmt, "hello", chat_id="42") is True
    [(path, headers, body)] = receiver.requests
    assert (path, body) == ("/hook/secret", expected)
    assert headers["Content-Type"] == "application/json"


def test_long_messages_are_cut_to_the_service_limit() -> None:
    assert len(webhook_payload("discord", "x" * 5000)["content"]) == 2000
    assert len(webhook_payload("telegram", "x" * 5000, "1")["text"]) == 4096


def test_http_error_is_logged_not_raised(receiver: Receiver, warnings: list[str]) -> None:
    receiver.status = 500
    assert post_webhook(receiver.url + "/hook/secret-token", "slack", "hi") is False
    assert any("HTTP 500" in m for m in warnings)
    assert not any("secret-token" in m for m in warnings)  # the URL path is a secret


def test_unreachable_webhook_is_logged_not_raised(warnings: list[str]) -> None:
    assert post_webhook("http://127.0.0.1:9/hook", "discord", "hi", timeout=2) is False
    assert any("failed" in m for m in warnings)


def test_telegram_without_chat_id_is_logged_not_raised(warnings: list[str]) -> None:
    assert post_webhook("http://127.0.0.1:9/bot1/sendMessage", "telegram", "hi") is False
    assert any("telegram_chat_id" in m for m in warnings)


def test_summary_names_ranks_and_decay(ledger: Store) -> None:
    period = period_for(date(2024, 1, 1), date(2024, 1, 1), "UTC")
    report = build_report(
        LedgerRows.from_mapping(ledger.report_rows(period.start, period.end)), period
    )
    text = summary_text(report)
    assert text.splitlines()[:4] == [
        "ltbot 2024-01-01 (UTC)",
        "btc-hold (BTC/USDT:USDT, underlying +8.00 %, ranked by Sharpe):",
        "  1. spot +8.00 %",
        "  2. token:ftx +11.90 %, decay -11.75 log pts",  # test_report_model.py: -0.117465
    ]
    assert "  3. perp:risk_pct=0.02 -3.44 %, stops 1, liquidations 0" in text


def test_daily_report_posts_the_summary(ledger: Store, receiver: Receiver, tmp_path: Path) -> None:
    settings = Settings(
        report={
            "out_dir": tmp_path / "reports",
            "webhook_url": receiver.url + "/d",
            "webhook_format": "discord",
        }
    )
    result = run_daily_report(ledger, settings, date(2024, 1, 1))
    assert result.notified is True
    [(_, _, body)] = receiver.requests
    assert body["content"].startswith("ltbot 2024-01-01 (UTC)")


def test_failing_webhook_does_not_stop_the_daily_report(
    ledger: Store, receiver: Receiver, tmp_path: Path, warnings: list[str]
) -> None:
    receiver.status = 503
    settings = Settings(report={"out_dir": tmp_path / "reports", "webhook_url": receiver.url})
    result = run_daily_report(ledger, settings, date(2024, 1, 1))
    assert result.notified is False and result.markdown.is_file() and result.html.is_file()
    assert any("HTTP 503" in m for m in warnings)
