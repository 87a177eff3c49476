"""The sim exchange through real ccxt (binanceusdm) on 127.0.0.1, over the bundled sample."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bot.adapters.sim.data import SAMPLE_DIR, SimDataError
from bot.adapters.sim.exchange import SimExchange
from bot.cli.sim_exchange import sim_exchange_command

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
# 2024-03-05 10:17 UTC: mid-hour and mid-5m-candle, 4 days into the sample.
AT = datetime(2024, 3, 5, 10, 17, 30, tzinfo=UTC)
AT_MS = int(AT.timestamp() * 1000)
FIVE_MIN_MS = 300_000
HOUR_MS = 3_600_000


def ccxt_client(url: str, timeout_ms: int = 1000) -> Any:
    """A keyless binanceusdm pointed at the sim (the recipe in the sim module docstring)."""
    exchange = ccxt.binanceusdm({"timeout": timeout_ms, "enableRateLimit": False})
    exchange.urls["api"].update(
        {
            "fapiPublic": url + "/fapi/v1",
            "fapiPublicV2": url + "/fapi/v2",
            "fapiPublicV3": url + "/fapi/v3",
            "fapiData": url + "/futures/data",
        }
    )
    exchange.options["fetchCurrencies"] = False
    return exchange


def sample(kind: str, base: str = "BTC") -> pd.DataFrame:
    """A bundled sample file with an integer `ms` column."""
    tf = {"futures": "5m", "mark": "1h", "funding_rate": "8h"}[kind]
    frame = pd.read_feather(SAMPLE_DIR / f"{base}_USDT_USDT-{tf}-{kind}.feather")
    frame["ms"] = frame["date"].astype("datetime64[ms, UTC]").astype("int64")
    return frame


def get(url: str) -> tuple[int, dict[str, str], Any]:
    """Status, headers and parsed body of a GET (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            body = err.read()
            return err.code, dict(err.headers), json.loads(body) if body[:1] == b"{" else body


@pytest.fixture(scope="module")
def sim() -> Iterator[SimExchange]:
    with SimExchange(speed=0, start=AT) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(sim: SimExchange) -> None:
    # One server for the module: every test starts at AT with no faults.
    sim.clear_faults()
    sim.set_time(AT)


@pytest.fixture
def exchange(sim: SimExchange) -> Any:
    client = ccxt_client(sim.url)
    client.load_markets()
    return client


# markets, tickers, candles, funding -----------------------------------------------------------


def test_load_markets_builds_real_markets_from_exchange_info(exchange: Any) -> None:
    btc = exchange.market(BTC)
    assert set(exchange.markets) == {BTC, ETH}
    assert btc["id"] == "BTCUSDT" and btc["linear"] and btc["swap"]
    assert btc["precision"]["price"] == pytest.approx(0.1)
    assert btc["contractSize"] == 1


def test_exchange_info_reports_simulated_server_time(sim: SimExchange) -> None:
    status, _, body = get(sim.url + "/fapi/v1/exchangeInfo")
    assert status == 200 and body["serverTime"] == AT_MS
    assert {s["symbol"] for s in body["symbols"]} == {"BTCUSDT", "ETHUSDT"}


def test_last_price_is_close_of_latest_closed_5m_candle(exchange: Any) -> None:
    ticker = exchange.fetch_ticker(BTC)
    candles = sample("futures")
    closed = candles[candles["ms"] + FIVE_MIN_MS <= AT_MS].iloc[-1]
    assert ticker["last"] == closed["close"]
    assert ticker["timestamp"] == AT_MS


def test_24h_ticker_covers_the_last_day_only(exchange: Any) -> None:
    ticker = exchange.fetch_ticker(ETH)
    candles = sample("futures", "ETH")
    window = candles[
        (candles["ms"] >= AT_MS - 24 * HOUR_MS) & (candles["ms"] + FIVE_MIN_MS <= AT_MS)
    ]
    assert ticker["high"] == window["high"].max()
    assert ticker["low"] == window["low"].min()
    assert ticker["baseVolume"] == pytest.approx(window["volume"].sum(), rel=1e-9)


def test_fetch_tickers_returns_both_symbols(exchange: Any) -> None:
    tickers = exchange.fetch_tickers()
    assert set(tickers) == {BTC, ETH}
    assert all(t["last"] > 0 for t in tickers.values())


def test_book_ticker_is_one_tick_around_last(exchange: Any) -> None:
    book = exchange.fetch_bids_asks([BTC])[BTC]
    last = exchange.fetch_ticker(BTC)["last"]
    assert book["ask"] - book["bid"] == pytest.approx(0.1)
    assert (book["ask"] + book["bid"]) / 2 == pytest.approx(last)


def test_last_prices_use_the_v2_endpoint(sim: SimExchange, exchange: Any) -> None:
    prices = exchange.fetch_last_prices()
    assert set(prices) == {BTC, ETH}
    assert sim.requests[-1].path == "/fapi/v2/ticker/price"


def test_klines_never_show_a_candle_opening_after_now(exchange: Any) -> None:
    rows = exchange.fetch_ohlcv(BTC, "5m", limit=5)
    assert rows[-1][0] <= AT_MS < rows[-1][0] + FIVE_MIN_MS
    candles = sample("futures").set_index("ms")
    for ms, o, h, low, c, v in rows[:-1]:
        assert [o, h, low, c, v] == candles.loc[
            ms, ["open", "high", "low", "close", "volume"]
        ].tolist()
    # Assumption under test: the candle in progress is flat at its open, volume 0.
    current = rows[-1]
    assert current[1:5] == [candles.loc[current[0], "open"]] * 4 and current[5] == 0


def test_hourly_klines_are_resampled_and_the_open_hour_is_partial(exchange: Any) -> None:
    rows = exchange.fetch_ohlcv(BTC, "1h", limit=3)
    five = sample("futures")
    hour_open = AT_MS - AT_MS % HOUR_MS
    assert rows[-1][0] == hour_open
    closed = five[(five["ms"] >= hour_open) & (five["ms"] + FIVE_MIN_MS <= AT_MS)]
    assert rows[-1][1:5] == [
        closed["open"].iloc[0],
        closed["high"].max(),
        closed["low"].min(),
        closed["close"].iloc[-1],
    ]
    previous = five[(five["ms"] >= hour_open - HOUR_MS) & (five["ms"] < hour_open)]
    assert rows[-2][2] == previous["high"].max()
    assert rows[-2][4] == previous["close"].iloc[-1]


def test_klines_since_and_limit_follow_binance(exchange: Any) -> None:
    since = AT_MS - 10 * HOUR_MS
    rows = exchange.fetch_ohlcv(ETH, "15m", since=since, limit=4)
    first = since - since % 900_000 + 900_000  # the first candle opening at or after `since`
    assert [r[0] for r in rows] == [first + i * 900_000 for i in range(4)]
    daily = exchange.fetch_ohlcv(ETH, "1d", since=0, limit=1500)
    assert daily[0][0] == int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert daily[-1][0] == int(datetime(2024, 3, 5, tzinfo=UTC).timestamp() * 1000)


def test_mark_klines_serve_recorded_mark_candles(exchange: Any) -> None:
    rows = exchange.fetch_mark_ohlcv(BTC, "1h", limit=3)
    mark = sample("mark").set_index("ms")
    hour_open = AT_MS - AT_MS % HOUR_MS
    assert [r[0] for r in rows] == [hour_open - 2 * HOUR_MS, hour_open - HOUR_MS, hour_open]
    assert rows[0][1:5] == mark.loc[rows[0][0], ["open", "high", "low", "close"]].tolist()
    same_path = exchange.fetch_ohlcv(BTC, "1h", limit=1, params={"price": "mark"})
    assert same_path[0][0] == hour_open


def test_funding_rate_is_the_next_settlement_with_mark_near_last(exchange: Any) -> None:
    rate = exchange.fetch_funding_rate(BTC)
    next_settle = int(datetime(2024, 3, 5, 16, tzinfo=UTC).timestamp() * 1000)
    funding = sample("funding_rate").set_index("ms")
    assert rate["fundingTimestamp"] == next_settle
    assert rate["fundingRate"] == pytest.approx(funding.loc[next_settle, "open"], abs=1e-8)
    assert rate["timestamp"] == AT_MS
    assert rate["interestRate"] == pytest.approx(0.0001)
    last = exchange.fetch_ticker(BTC)["last"]
    assert rate["markPrice"] == pytest.approx(last, rel=5e-3)
    assert rate["indexPrice"] == rate["markPrice"]


def test_mark_equals_recorded_mark_close_on_the_hour(sim: SimExchange, exchange: Any) -> None:
    sim.set_time(datetime(2024, 3, 5, 10, tzinfo=UTC))
    mark = sample("mark").set_index("ms")
    rate = exchange.fetch_funding_rate(BTC)
    assert rate["markPrice"] == pytest.approx(mark.loc[AT_MS - AT_MS % HOUR_MS - HOUR_MS, "close"])


def test_funding_rates_for_all_symbols(exchange: Any) -> None:
    rates = exchange.fetch_funding_rates()
    assert set(rates) == {BTC, ETH}


def test_funding_history_stops_at_now(exchange: Any) -> None:
    history = exchange.fetch_funding_rate_history(BTC, limit=1000)
    funding = sample("funding_rate")
    settled = funding[funding["ms"] <= AT_MS]
    assert [h["timestamp"] for h in history] == settled["ms"].tolist()
    assert [h["fundingRate"] for h in history] == pytest.approx(settled["open"].tolist(), abs=1e-8)
    since = int(settled["ms"].iloc[2])
    assert [h["timestamp"] for h in exchange.fetch_funding_rate_history(BTC, since, 2)] == (
        settled["ms"].iloc[2:4].tolist()
    )


def test_funding_history_with_end_time(exchange: Any) -> None:
    end = int(datetime(2024, 3, 3, tzinfo=UTC).timestamp() * 1000)
    history = exchange.fetch_funding_rate_history(BTC, limit=2, params={"until": end})
    assert [h["timestamp"] for h in history] == [end - 8 * HOUR_MS, end]


def test_mark_klines_finer_than_mark_data_follow_last_times_basis(exchange: Any) -> None:
    mark5 = exchange.fetch_mark_ohlcv(BTC, "5m", limit=3)
    last5 = exchange.fetch_ohlcv(BTC, "5m", limit=3)
    assert [r[0] for r in mark5] == [r[0] for r in last5]
    for m, t in zip(mark5, last5, strict=True):
        assert m[4] == pytest.approx(t[4], rel=5e-3) and m[5] == 0


def test_funding_intervals_are_8h(exchange: Any) -> None:
    intervals = exchange.fetch_funding_intervals()
    assert {s: i["interval"] for s, i in intervals.items()} == {BTC: "8h", ETH: "8h"}


def test_server_time_is_the_simulated_clock(exchange: Any) -> None:
    assert exchange.fetch_time() == AT_MS


def test_no_request_is_signed(sim: SimExchange, exchange: Any) -> None:
    exchange.fetch_ticker(BTC)
    assert sim.requests and not any(r.signed for r in sim.requests)


# Binance-style errors -------------------------------------------------------------------------


def test_unknown_symbol_is_binance_invalid_symbol(sim: SimExchange) -> None:
    status, _, body = get(sim.url + "/fapi/v1/premiumIndex?symbol=XRPUSDT")
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("klines?symbol=BTCUSDT", -1102),
        ("klines?symbol=BTCUSDT&interval=1w", -1120),
        ("klines?symbol=BTCUSDT&interval=1m", -1120),  # finer than the 5m data
        ("klines?symbol=BTCUSDT&interval=1h&limit=1501", -1130),
        ("klines?symbol=BTCUSDT&interval=1h&startTime=x", -1100),
        ("klines?interval=1h", -1102),
    ],
)
def test_bad_kline_parameters_are_rejected(sim: SimExchange, query: str, code: int) -> None:
    status, _, body = get(f"{sim.url}/fapi/v1/{query}")
    assert status == 400 and body["code"] == code


def test_signed_requests_are_refused(sim: SimExchange) -> None:
    request = urllib.request.Request(
        sim.url + "/fapi/v1/time?signature=abc", headers={"X-MBX-APIKEY": "k"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    err.value.close()
    assert err.value.code == 401 and sim.requests[-1].signed


def test_order_requests_are_recorded_and_refused(sim: SimExchange) -> None:
    request = urllib.request.Request(sim.url + "/fapi/v1/order", data=b"x=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    err.value.close()
    assert err.value.code == 405
    assert (sim.requests[-1].method, sim.requests[-1].path) == ("POST", "/fapi/v1/order")


def test_unknown_path_is_404(sim: SimExchange) -> None:
    status, _, _ = get(sim.url + "/fapi/v1/depth?symbol=BTCUSDT")
    assert status == 404


# clock ----------------------------------------------------------------------------------------


def test_clock_runs_at_speed_and_can_be_moved() -> None:
    with SimExchange(speed=3600.0, start=AT) as fast:
        first = fast.now()
        time.sleep(0.05)
        assert fast.now() - first >= timedelta(seconds=150)  # 0.05 s wall x 3600
        fast.set_time(AT)
        fast.advance(timedelta(hours=-1))
        assert abs(fast.now() - (AT - timedelta(hours=1))) < timedelta(minutes=10)


def test_defaults_cover_the_sample(sim: SimExchange) -> None:
    assert sim.symbols == ["BTCUSDT", "ETHUSDT"]
    assert sim.data_start == datetime(2024, 3, 1, tzinfo=UTC)
    assert sim.data_end == datetime(2024, 4, 15, tzinfo=UTC)
    assert sim.data_end - sim.data_start >= timedelta(days=30)
    with SimExchange(speed=0) as default:
        assert default.now() == default.data_start
        assert default.url.startswith("http://127.0.0.1:")


# faults, each seen through ccxt -----------------------------------------------------------------


def test_delay_answers_late(sim: SimExchange, exchange: Any) -> None:
    sim.inject("premiumIndex", "delay", count=1, seconds=0.3)
    started = time.monotonic()
    assert exchange.fetch_funding_rate(BTC)["markPrice"] > 0
    assert time.monotonic() - started >= 0.3


def test_timeout_raises_request_timeout(sim: SimExchange, exchange: Any) -> None:
    sim.inject("ticker/24hr", "timeout", count=1, seconds=2)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_ticker(BTC)
    assert time.monotonic() - started < 1.9
    assert exchange.fetch_ticker(BTC)["last"] > 0  # count=1: the next request is served


def test_rate_limit_is_429_with_retry_after(sim: SimExchange, exchange: Any) -> None:
    sim.inject("klines", "rate_limit", count=1, retry_after=7)
    # binance maps HTTP 429 to DDoSProtection (RateLimitExceeded's parent), not its subclass.
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ohlcv(BTC, "1h", limit=2)
    sim.inject("klines", "rate_limit", count=1, retry_after=7)
    status, headers, body = get(sim.url + "/fapi/v1/klines?symbol=BTCUSDT&interval=1h")
    assert (status, headers["Retry-After"], body["code"]) == (429, "7", -1003)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, ccxt.ExchangeNotAvailable),
        (500, ccxt.ExchangeNotAvailable),
        (504, ccxt.RequestTimeout),
    ],
)
def test_server_error_maps_by_status(
    sim: SimExchange, exchange: Any, status: int, error: type[Exception]
) -> None:
    sim.inject("premiumIndex", "server_error", count=1, status=status)
    with pytest.raises(error):
        exchange.fetch_funding_rate(BTC)


def test_malformed_json_reaches_the_client_unparsed(sim: SimExchange, exchange: Any) -> None:
    # ccxt does not raise on an unparsable 200 body: it hands the text to the parser, which
    # yields empty fields (or a plain Python error), so the feed must validate what it gets.
    sim.inject("premiumIndex", "malformed_json", count=1)
    rate = exchange.fetch_funding_rate(BTC)
    assert rate["markPrice"] is None and rate["timestamp"] is None
    sim.inject("ticker/price", "malformed_json", count=1)
    with pytest.raises((AttributeError, TypeError, ccxt.BaseError)):
        exchange.fetch_last_prices()


def test_missing_fields_drop_prices(sim: SimExchange, exchange: Any) -> None:
    sim.inject("premiumIndex", "missing_fields", count=1)
    rate = exchange.fetch_funding_rate(BTC)
    assert rate["markPrice"] is None and rate["fundingRate"] is None
    assert rate["timestamp"] == AT_MS
    sim.inject("klines", "missing_fields", count=1)
    rows = exchange.fetch_ohlcv(BTC, "5m", limit=2)
    assert rows[0][4] is None


def test_stale_serves_older_data_and_timestamps(sim: SimExchange, exchange: Any) -> None:
    fresh = exchange.fetch_ticker(BTC)
    sim.inject("*", "stale", count=1, seconds=3600)
    stale = exchange.fetch_ticker(BTC)
    assert stale["timestamp"] == AT_MS - HOUR_MS
    assert stale["last"] != fresh["last"]


def test_spike_multiplies_prices(sim: SimExchange, exchange: Any) -> None:
    normal = exchange.fetch_funding_rate(BTC)
    sim.inject("premiumIndex", "spike", count=1, factor=10)
    spiked = exchange.fetch_funding_rate(BTC)
    assert spiked["markPrice"] == pytest.approx(normal["markPrice"] * 10)
    assert spiked["fundingRate"] == normal["fundingRate"]
    sim.inject("klines", "spike", factor=0.5)
    assert exchange.fetch_ohlcv(BTC, "1h", limit=1)[0][1] == pytest.approx(
        exchange.fetch_mark_ohlcv(BTC, "1h", limit=1)[0][1] / 2, rel=5e-3
    )


def test_fault_scope_count_and_clear(sim: SimExchange, exchange: Any) -> None:
    sim.inject("premiumIndex", "server_error", count=2)
    assert exchange.fetch_ticker(BTC)["last"] > 0  # other endpoints unaffected
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            exchange.fetch_funding_rate(BTC)
    assert exchange.fetch_funding_rate(BTC)["markPrice"] > 0
    sim.inject("*", "server_error")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_time()
    sim.clear_faults()
    assert exchange.fetch_time() == AT_MS


@pytest.mark.parametrize(
    ("endpoint", "fault", "params"),
    [
        ("*", "nope", {}),
        ("*", "delay", {"factor": 2}),
        ("*", "server_error", {"status": 404}),
        ("premiumIndx", "delay", {}),
    ],
)
def test_bad_fault_is_a_value_error(
    sim: SimExchange, endpoint: str, fault: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        sim.inject(endpoint, fault, **params)


def test_fault_on_ticker_last_segment_name(sim: SimExchange, exchange: Any) -> None:
    sim.inject("bookTicker", "spike", count=1, factor=2)
    assert exchange.fetch_ticker(BTC)["last"] < 100_000  # 24hr ticker unaffected
    assert exchange.fetch_bids_asks([BTC])[BTC]["bid"] > 100_000


def test_stop_is_prompt_while_a_request_is_held() -> None:
    sim = SimExchange(speed=0)
    sim.start()
    sim.inject("*", "timeout", seconds=30)
    errors: list[Exception] = []

    def call() -> None:
        try:
            urllib.request.urlopen(sim.url + "/fapi/v1/ping", timeout=10).close()
        except Exception as exc:  # the connection is dropped: any client error is expected
            errors.append(exc)

    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + 5
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    client.join()
    assert time.monotonic() - started < 2
    assert errors


# data directory layouts -----------------------------------------------------------------------


def test_csv_files_in_a_freqtrade_futures_dir(tmp_path: Path) -> None:
    futures = tmp_path / "binance" / "futures"
    futures.mkdir(parents=True)
    for kind, tf in [("futures", "5m"), ("mark", "1h"), ("funding_rate", "8h")]:
        frame = sample(kind).drop(columns="ms").iloc[:600]
        frame.to_csv(futures / f"BTC_USDT_USDT-{tf}-{kind}.csv", index=False)
    at = AT - timedelta(days=3)
    with SimExchange(tmp_path, speed=0, start=at) as csv_sim:
        client = ccxt_client(csv_sim.url)
        assert csv_sim.symbols == ["BTCUSDT"]
        at_ms = AT_MS - 3 * 24 * HOUR_MS
        closed = at_ms - at_ms % FIVE_MIN_MS - FIVE_MIN_MS
        assert (
            client.fetch_ticker(BTC)["last"]
            == sample("futures").set_index("ms").loc[closed, "close"]
        )
        assert csv_sim.data_end == datetime(2024, 3, 3, 2, tzinfo=UTC)  # 600 x 5m


def test_without_an_exchange_info_the_bundled_one_lists_the_symbols_with_data(
    tmp_path: Path,
) -> None:
    # Any perpetual of the bundled 2025-12-24 exchangeInfo can be simulated: SOL here, with
    # prices taken from the ETH sample (only the name matters to this test).
    sample("futures").drop(columns="ms").iloc[:100].to_feather(
        tmp_path / "SOL_USDT_USDT-5m-futures.feather"
    )
    with SimExchange(tmp_path, speed=0) as sol_sim:
        status, _, info = get(f"{sol_sim.url}/fapi/v1/exchangeInfo")
        assert status == 200 and [s["symbol"] for s in info["symbols"]] == ["SOLUSDT"]
        market = ccxt_client(sol_sim.url).load_markets()["SOL/USDT:USDT"]
        # Binance SOLUSDT: stepSize 1, MIN_NOTIONAL 5, tickSize 0.01.
        assert (market["precision"]["amount"], market["limits"]["cost"]["min"]) == (1.0, 5.0)
        assert market["precision"]["price"] == 0.01


def test_exchange_info_is_taken_from_the_data_dir(tmp_path: Path) -> None:
    sample("futures").drop(columns="ms").iloc[:100].to_feather(
        tmp_path / "ETH_USDT_USDT-5m-futures.feather"
    )
    info = json.loads((SAMPLE_DIR.parent / "exchange_info_btc_eth.json").read_text())
    info["symbols"] = [s for s in info["symbols"] if s["symbol"] == "ETHUSDT"]
    (tmp_path / "my_fapi_exchangeInfo.json").write_text(json.dumps(info))
    with SimExchange(tmp_path, speed=0) as eth_sim:
        client = ccxt_client(eth_sim.url)
        assert list(client.load_markets()) == [ETH]
        # Without mark files the mark price is the last price.
        rate = client.fetch_funding_rate(ETH)
        assert rate["markPrice"] == client.fetch_ticker(ETH)["last"]
        assert rate["fundingRate"] == 0


@pytest.mark.shared_data
def test_shared_5m_window_and_hourly_dir(shared_data: Path) -> None:
    window = shared_data / "binance_usdm" / "5m" / "2023-01_2024-05"
    with SimExchange(window, speed=0) as shared_sim:
        assert shared_sim.data_start == datetime(2023, 1, 1, tzinfo=UTC)
        client = ccxt_client(shared_sim.url)
        assert (
            client.fetch_ohlcv(BTC, "5m", limit=2)[0][0] == shared_sim.data_start.timestamp() * 1000
        )
    with SimExchange(shared_data / "binance_usdm" / "1h", speed=0) as hourly:
        client = ccxt_client(hourly.url)
        assert client.fetch_ohlcv(ETH, "4h", limit=1)
        with pytest.raises(ccxt.BadRequest):  # HTTP 400 -1120: finer than the 1h data
            client.fetch_ohlcv(ETH, "5m", limit=1)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no usable data"),
        ({"BTC_USDT_USDT-5m-futures.feather": b"not arrow"}, "cannot read"),
        ({"BTC_USDT_USDT-5m-futures.csv": b"date,open\n2024-01-01,1\n"}, "missing columns"),
        (
            {"BTC_USDT_USDT-5m-futures.csv": b"date,open,high,low,close,volume\nx,1,1,1,1,1\n"},
            "dates",
        ),
    ],
)
def test_bad_data_dir_is_a_sim_data_error(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(SimDataError, match=message):
        SimExchange(tmp_path)


def test_missing_data_dir_is_a_sim_data_error(tmp_path: Path) -> None:
    with pytest.raises(SimDataError, match="not found"):
        SimExchange(tmp_path / "absent")


# command ----------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("sim-exchange")(sim_exchange_command)
    app.callback()(lambda: None)
    return app


@pytest.mark.parametrize(
    "args",
    [["--data", "/nonexistent/dir"], ["--start", "yesterday"], ["--speed", "-1"]],
)
def test_command_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(_app(), ["sim-exchange", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_serves_until_ctrl_c_or_sigterm(stop_signal: signal.Signals) -> None:
    code = "import typer; from bot.cli.sim_exchange import sim_exchange_command as c; typer.run(c)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.stdout is not None
    with proc:
        first = proc.stdout.readline()
        url = first.split()[2]
        status, _, body = get(url + "/fapi/v1/time")
        assert status == 200 and body["serverTime"] == int(
            datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000
        )
        proc.send_signal(stop_signal)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
    assert "stopped" in rest
