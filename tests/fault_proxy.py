"""A fault-injecting HTTP proxy for tests: it sits on 127.0.0.1 in front of the sim exchange
and rewrites chosen answers for a number of requests, as a broken exchange or a broken network
path would: two symbols' quotes swapped, prices scaled, absurd funding rates, an empty 200 body,
kline times shifted, the server clock moved back. Everything else passes through unchanged.

The daemon under test is pointed at `FaultProxy.url` instead of the sim's own url.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bot.adapters.sim.faults import spike

Change = Callable[[Any], Any]
QUOTES = ("premiumIndex", "ticker/price", "ticker/bookTicker")  # a poll's quote endpoints


@dataclass
class Rewrite:
    """Rewrite answers of `endpoints` (path suffixes) with `change` (None: an empty body) for
    the next `remaining` matching requests (None: until cleared)."""

    endpoints: tuple[str, ...]
    change: Change | None
    remaining: int | None = None

    def matches(self, path: str) -> bool:
        return any(path.endswith("/" + e) for e in self.endpoints)


class FaultProxy:
    """The proxy; a context manager that serves on a free loopback port."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrites: list[Rewrite] = []
        self.rewritten: list[str] = []  # paths of the answers rewritten, in order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, endpoints: tuple[str, ...], change: Change | None, count: int | None = None):
        """Rewrite the next `count` answers of `endpoints` (None: until `clear`)."""
        with self._lock:
            self.rewrites.append(Rewrite(endpoints, change, count))

    def clear(self) -> None:
        with self._lock:
            self.rewrites.clear()

    def take(self, path: str) -> Rewrite | None:
        """The rewrite for one answer to `path`, consuming one use of it."""
        with self._lock:
            for rewrite in self.rewrites:
                if rewrite.matches(path):
                    if rewrite.remaining is not None:
                        rewrite.remaining -= 1
                        if rewrite.remaining <= 0:
                            self.rewrites.remove(rewrite)
                    self.rewritten.append(path)
                    return rewrite
        return None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                with urllib.request.urlopen(proxy.upstream + self.path, timeout=10) as answer:
                    status, body = answer.status, answer.read()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
            rewrite = proxy.take(urlsplit(self.path).path) if status == 200 else None
            if rewrite is not None:
                body = b"" if rewrite.change is None else _rewritten(body, rewrite.change)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass  # quiet

    return Handler


def _rewritten(body: bytes, change: Change) -> bytes:
    return json.dumps(change(json.loads(body))).encode()


# -- the changes ------------------------------------------------------------------------------


def swap_symbols(a: str, b: str) -> Change:
    """Answers where symbol `a`'s entries carry `b`'s name and the reverse (exchange ids)."""

    def change(payload: Any) -> Any:
        if isinstance(payload, list):
            return [change(item) for item in payload]
        if isinstance(payload, dict) and payload.get("symbol") in (a, b):
            return {**payload, "symbol": b if payload["symbol"] == a else a}
        return payload

    return change


def scale_prices(factor: float, kline: bool = False) -> Change:
    """Every price times `factor` (the sim's own spike rule)."""
    return lambda payload: spike(payload, factor, kline)


def funding_rate(rate: float) -> Change:
    """Every funding rate, predicted (premiumIndex) or settled (fundingRate), set to `rate`."""

    def change(payload: Any) -> Any:
        if isinstance(payload, list):
            return [change(item) for item in payload]
        if isinstance(payload, dict):
            keys = ("lastFundingRate", "fundingRate")
            return {k: (f"{rate:.8f}" if k in keys else v) for k, v in payload.items()}
        return payload

    return change


def shift_klines(ms: int) -> Change:
    """Kline rows with open and close times moved by `ms` (negative: back)."""

    def change(payload: Any) -> Any:
        return [[row[0] + ms, *row[1:6], row[6] + ms, *row[7:]] for row in payload]

    return change


def server_time_moved(ms: int) -> Change:
    """`GET time` answering `ms` later (negative: earlier) than the exchange's clock."""
    return lambda payload: {**payload, "serverTime": payload["serverTime"] + ms}
