"""The HTTP side of the sim exchange: a threading loopback server that hands requests over.

HTTP/1.0, one request per connection, so no keep-alive connection can hold a thread after the
client is done; on shutdown open connections are shut down and every request thread is joined.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from loguru import logger


@dataclass(frozen=True)
class SimRequest:
    """One request the server received (for tests: counts, parameters, signed or not)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def signed(self) -> bool:
        """Whether the request carries a signature or an API key (never expected here)."""
        keys = {k.lower() for k in self.headers}
        return "signature" in self.query or "x-mbx-apikey" in keys


@dataclass
class Reply:
    """An answer: status (0 = drop the connection unanswered), JSON payload or raw body."""

    status: int
    payload: Any
    headers: dict[str, str] | None = None
    body: bytes | None = None


class Backend(Protocol):
    """What the server calls: the sim exchange."""

    def record(self, request: SimRequest) -> None:
        """Remember one request."""

    def respond(self, endpoint: str, query: dict[str, str]) -> Reply:
        """Answer a GET of `/fapi/vN/<endpoint>`."""


def status_reason(status: int) -> str:
    """The standard reason phrase of an HTTP status ("Server Error" if unknown)."""
    return HTTPStatus(status).phrase if status in _STATUSES else "Server Error"


_STATUSES = {s.value for s in HTTPStatus}


class SimHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server on `address` that passes every request to `backend`."""

    # Request threads are joined on close; HTTP/1.0 (one request per connection) means no
    # keep-alive connection can hold a thread after the client is done.
    daemon_threads = False
    block_on_close = True
    backend: Backend

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, sock: socket.socket, is_open: bool) -> None:
        """Note a connection as open or closed (for `close_connections`)."""
        with self._open_lock:
            if is_open:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout fault, closed socket) is not a server failure.
        logger.opt(exception=True).debug("sim exchange: request from {} failed", client_address)

    def close_connections(self) -> None:
        """Shut down every open connection, unblocking handler threads still reading."""
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: SimHTTPServer
    protocol_version = "HTTP/1.0"
    timeout = 10  # seconds a client may take to send its request
    server_version = "ltbot-sim"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        backend = self.server.backend
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        request = SimRequest("GET", parts.path, query, dict(self.headers.items()))
        backend.record(request)
        if request.signed:
            logger.warning("sim exchange: signed request refused: {}", parts.path)
            self._send(
                Reply(
                    401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
                )
            )
            return
        segments = parts.path.strip("/").split("/")
        if len(segments) < 3 or segments[0] != "fapi" or not segments[1].startswith("v"):
            self._send(Reply(404, {"code": -5000, "msg": f"Path {parts.path} not served."}))
            return
        self._send(backend.respond("/".join(segments[2:]), query))

    def do_POST(self) -> None:
        # Orders, listen keys...: never expected from a paper-trading client. Recorded (so
        # tests can assert there are none) and refused.
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        request = SimRequest(self.command, parts.path, query, dict(self.headers.items()))
        self.server.backend.record(request)
        logger.warning("sim exchange: {} {} refused (public GET only)", self.command, parts.path)
        status = 401 if request.signed else 405
        self._send(Reply(status, {"code": -2015 if request.signed else -1000, "msg": "GET only."}))

    do_PUT = do_DELETE = do_POST

    def _send(self, reply: Reply) -> None:
        if reply.status == 0:
            self.close_connection = True
            return
        body = reply.body
        if body is None:
            body = json.dumps(reply.payload, separators=(",", ":")).encode()
        self.send_response(reply.status)
        json_body = reply.payload is not None or reply.status < 500
        self.send_header("Content-Type", "application/json" if json_body else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (reply.headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sim exchange: {} {}", self.address_string(), format % args)
