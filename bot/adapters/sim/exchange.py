"""A loopback exchange speaking the Binance USDⓈ-M public REST API from recorded data.

`SimExchange` serves `/fapi/v1/{ping,time,exchangeInfo,premiumIndex,ticker/price,
ticker/bookTicker,ticker/24hr,klines,markPriceKlines,indexPriceKlines,fundingRate,fundingInfo}`
(any `/fapi/vN/` prefix, so ccxt's `fapiPublicV2GetTickerPrice` works too) on 127.0.0.1, on a
simulated clock: `now = start + (wall - wall at start) x speed`. A request sees only data up to
`now` (see `bot.adapters.sim.routes` for how each value is derived from the candles).

Pointing ccxt at it (ccxt 4.5, `ccxt.binanceusdm`): load_markets only calls
`fapiPublicGetExchangeInfo`; tickers, klines, markPriceKlines, premiumIndex, fundingRate,
fundingInfo and time use `fapiPublic`; fetch_last_prices uses `fapiPublicV2`. So set

    exchange.urls["api"].update({
        "fapiPublic": url + "/fapi/v1",
        "fapiPublicV2": url + "/fapi/v2",
        "fapiPublicV3": url + "/fapi/v3",
        "fapiData": url + "/futures/data",  # not served (404); keeps stray calls off the net
    })
    exchange.options["fetchCurrencies"] = False  # else a private /sapi call when keys are set

with no API keys. Signed requests (`signature` or `X-MBX-APIKEY`) are refused (HTTP 401,
code -2015) and logged: this exchange is public data only.

The clock is not clamped: past `data_end` the data stays at its last values (klines stop, prices
freeze) while serverTime keeps running.

Faults (`inject(endpoint, fault, count=None, **param)`), and what ccxt 4.5 binanceusdm makes of
them (checked in tests/adapters/test_sim_exchange.py):

- delay(seconds=1): answers normally after the pause -> normal result (RequestTimeout if the
  pause exceeds ccxt's timeout);
- timeout(seconds=5): holds the request, then drops the connection unanswered -> RequestTimeout;
- rate_limit(retry_after=1): HTTP 429 + `Retry-After` header + `{"code":-1003}` ->
  DDoSProtection (binance raises RateLimitExceeded's parent for 429);
- server_error(status=503): HTTP 5xx with a plain-text reason -> ExchangeNotAvailable
  (500/502/503), RequestTimeout (504);
- malformed_json: HTTP 200 with the JSON cut in half -> no ccxt error: ccxt parses the text as
  a response, so fields come back None or a plain AttributeError/TypeError escapes;
- missing_fields: HTTP 200 without price/rate fields (klines: time and open only) -> None fields;
- stale(seconds=60): answers as of now - seconds (timestamps and prices) -> old `timestamp`;
- spike(factor=10): every price x factor (funding rates untouched) -> absurd prices.

Delays and timeouts are capped at 30 s and end at once when the server stops.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from loguru import logger

from bot.adapters.sim.data import SAMPLE_DIR, SimDataError, SymbolData
from bot.adapters.sim.faults import FaultBook, drop_fields, spike
from bot.adapters.sim.http import Reply, SimHTTPServer, SimRequest, status_reason
from bot.adapters.sim.load import find_exchange_info, load_exchange_info, load_market_data
from bot.adapters.sim.routes import KLINE_ROUTES, ROUTES, BadRequest, MarketView
from bot.runtime.clock import Timer, monotonic

__all__ = ["SimDataError", "SimExchange", "SimRequest"]
MAX_RECORDED_REQUESTS = 100_000  # `requests` keeps the newest ones, so a long run stays bounded


class SimExchange:
    """Serve recorded Binance USDⓈ-M data on loopback HTTP on a simulated clock.

    `data_dir` None means the bundled sample; `speed` is simulated seconds per wall second
    (0 = frozen, moved only by `set_time`/`advance`); `start` defaults to the first time at
    which every symbol has data; `port` 0 picks a free port; `timer` (monotonic seconds) runs
    the simulated clock.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timer: Timer = monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        root = SAMPLE_DIR if data_dir is None else Path(data_dir)
        self._data: dict[str, SymbolData] = load_market_data(root)
        info_path = find_exchange_info(None if data_dir is None else root)
        info, info_name = load_exchange_info(info_path, set(self._data))
        listed = {str(s.get("symbol")) for s in info["symbols"] if isinstance(s, dict)}
        for name in sorted(set(self._data) - listed):
            logger.warning("sim exchange: {} has data but is not in {}", name, info_name)
        self._view = MarketView(self._data, info)
        self._speed = float(speed)
        self._host, self._port = host, port
        first_ms = max(sym.first_ms for sym in self._data.values())
        self._anchor_ms = first_ms if start is None else _to_ms(start)
        self._timer = timer
        self._anchor_wall = timer()
        self._clock_lock = threading.Lock()
        self._faults = FaultBook()
        self._requests: deque[SimRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        logger.debug(
            "sim exchange: {} from {} (exchangeInfo {})", sorted(self._data), root, info_name
        )

    # lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the port and serve in a background thread; the clock starts running now."""
        if self._server is not None:
            raise RuntimeError("sim exchange already started")
        self._stopping.clear()
        server = SimHTTPServer((self._host, self._port))
        server.backend = self
        self._server = server
        with self._clock_lock:
            self._anchor_wall = self._timer()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-exchange"
        )
        self._thread.start()
        logger.info("sim exchange listening on {} at {:g}x", self.url, self._speed)

    def stop(self) -> None:
        """Stop serving: wake held requests, close connections, join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        thread.join()
        server.server_close()  # joins the request threads (block_on_close)
        self._server = self._thread = None

    def __enter__(self) -> SimExchange:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # clock --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:8765` (ccxt's fapiPublic is url + `/fapi/v1`)."""
        if self._server is None:
            raise RuntimeError("sim exchange not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def now(self) -> datetime:
        """The simulated UTC time."""
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)

    def now_ms(self) -> int:
        """The simulated time in epoch milliseconds."""
        with self._clock_lock:
            elapsed = self._timer() - self._anchor_wall
            return self._anchor_ms + int(elapsed * self._speed * 1000)

    def set_time(self, at: datetime) -> None:
        """Jump the simulated clock to `at` (it keeps running at `speed` from there)."""
        with self._clock_lock:
            self._anchor_ms = _to_ms(at)
            self._anchor_wall = self._timer()

    def advance(self, delta: timedelta) -> None:
        """Move the simulated clock by `delta`."""
        with self._clock_lock:
            self._anchor_ms += int(delta.total_seconds() * 1000)

    # faults and introspection ---------------------------------------------------------------

    def inject(self, endpoint: str, fault: str, count: int | None = None, **params: Any) -> None:
        """Make the next `count` requests (None = until `clear_faults`) to `endpoint` fail.

        Faults: delay(seconds), timeout(seconds), rate_limit(retry_after), server_error(status),
        malformed_json, missing_fields, stale(seconds), spike(factor).
        """
        name = endpoint.strip("/")
        known = set(ROUTES) | {path.rsplit("/", 1)[-1] for path in ROUTES} | {"*"}
        if name not in known:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(sorted(known))}")
        self._faults.add(name, fault, count, params)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    @property
    def requests(self) -> list[SimRequest]:
        """Requests received so far, oldest first (a copy; the newest 100 000 are kept)."""
        with self._requests_lock:
            return list(self._requests)

    @property
    def symbols(self) -> list[str]:
        """Exchange ids with data, e.g. `["BTCUSDT", "ETHUSDT"]`."""
        return sorted(self._data)

    @property
    def data_start(self) -> datetime:
        """The first simulated time at which every symbol has data (the default start)."""
        return _from_ms(max(sym.first_ms for sym in self._data.values()))

    @property
    def data_end(self) -> datetime:
        """The last simulated time with data: when the last candle of the shortest symbol closes."""
        return _from_ms(min(sym.end_ms for sym in self._data.values()))

    # request handling (called from the handler threads) ------------------------------------

    def record(self, request: SimRequest) -> None:
        """Remember one request (called by the HTTP server)."""
        with self._requests_lock:
            self._requests.append(request)

    def _hold(self, seconds: float) -> None:
        # An injected pause that ends early when the server stops.
        self._stopping.wait(seconds)

    def respond(self, endpoint: str, query: dict[str, str]) -> Reply:
        """Answer a GET of `/fapi/vN/<endpoint>` at the simulated now, faults applied."""
        route = ROUTES.get(endpoint)
        if route is None:
            return Reply(404, {"code": -5000, "msg": f"Path {endpoint} not served by sim."})
        at_ms = self.now_ms()
        transforms = []
        for fault in self._faults.take(endpoint):
            value = fault.value if fault.value is not None else 0.0
            if fault.kind == "delay":
                self._hold(value)
            elif fault.kind == "timeout":
                self._hold(value)
                return Reply(0, None)
            elif fault.kind == "rate_limit":
                body = {"code": -1003, "msg": "Too many requests; current limit is exceeded."}
                return Reply(429, body, {"Retry-After": str(max(0, round(value)))})
            elif fault.kind == "server_error":
                # A gateway-style plain-text body, so clients classify by HTTP status alone.
                status = int(value)
                return Reply(status, None, body=status_reason(status).encode())
            elif fault.kind == "stale":
                at_ms -= int(value * 1000)
            else:
                transforms.append(fault)
        try:
            status, payload = route(self._view, at_ms, query)
        except BadRequest as exc:
            return Reply(400, {"code": exc.code, "msg": exc.msg})
        raw = False
        for fault in transforms:
            if fault.kind == "spike":
                payload = spike(payload, fault.value or 1.0, endpoint in KLINE_ROUTES)
            elif fault.kind == "missing_fields":
                payload = drop_fields(payload, endpoint in KLINE_ROUTES)
            elif fault.kind == "malformed_json":
                raw = True
        reply = Reply(status, payload)
        if raw:
            text = json.dumps(payload, separators=(",", ":"))
            reply.body = text[: max(1, len(text) // 2)].encode()
        return reply


def _to_ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass a UTC-aware one")
    return int(at.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
