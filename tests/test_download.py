"""`ltbot download` against the sim exchange: layout, paging, resume, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.ccxt.history import download, missing_ranges, plan
from bot.adapters.replay.feather import read_frame, write_frame
from bot.adapters.sim.exchange import SimExchange
from bot.cli.download import download_command
from bot.domain.values import Candle, FundingRate
from bot.runtime.clock import FakeClock

BTC = "BTC/USDT:USDT"
SINCE = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 3, 3, 0, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimExchange]:
    with SimExchange(speed=0, start=NOW) as server:
        yield server


def feed_for(sim: SimExchange) -> CcxtFeed:
    feed = CcxtFeed([BTC], api_url=sim.url, rate_limit=False, clock=FakeClock(NOW))
    feed.connect(max_attempts=1)
    return feed


def fetch(sim: SimExchange, out: Path, since: datetime = SINCE, limit: int = 200) -> list[str]:
    """Download into `out`; return the request paths with their startTime."""
    before = len(sim.requests)
    download(feed_for(sim), plan([BTC], "5m", out, "binanceusdm"), since, NOW, limit)
    return [
        f"{r.path}@{r.query.get('startTime', '-')}"
        for r in sim.requests[before:]
        if r.path != "/fapi/v1/exchangeInfo"
    ]


def files(out: Path) -> dict[str, pd.DataFrame]:
    return {p.name: read_frame(p) for p in sorted((out / "binance" / "futures").iterdir())}


def ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def test_fresh_download_writes_freqtrades_files(sim: SimExchange, tmp_path: Path) -> None:
    requests = fetch(sim, tmp_path)
    got = files(tmp_path)
    # freqtrade download-data -t 5m --trading-mode futures: 5m futures, 1h mark, 1h funding
    # (its mark_ohlcv_timeframe and funding_fee_timeframe); the 5m mark is ltbot's mark path.
    assert sorted(got) == [
        "BTC_USDT_USDT-1h-funding_rate.feather",
        "BTC_USDT_USDT-1h-mark.feather",
        "BTC_USDT_USDT-5m-futures.feather",
        "BTC_USDT_USDT-5m-mark.feather",
    ]
    candles = got["BTC_USDT_USDT-5m-futures.feather"]
    assert len(candles) == 2 * 288  # closed 5m candles from 03-01 00:00 to 03-02 23:55
    assert candles["date"].iloc[0] == pd.Timestamp(SINCE)
    assert str(candles["date"].dtype) == "datetime64[ms, UTC]"
    funding = got["BTC_USDT_USDT-1h-funding_rate.feather"]
    assert funding["date"].dt.hour.tolist() == [0, 8, 16, 0, 8, 16, 0]
    assert (funding[["high", "low", "close", "volume"]] == 0).all().all()
    assert got["BTC_USDT_USDT-5m-mark.feather"]["volume"].eq(0).all()
    assert len(got["BTC_USDT_USDT-1h-mark.feather"]) == 48
    assert sum("/klines@" in r for r in requests) == 3  # 576 rows in pages of 200


def test_resume_fetches_only_the_missing_tail_and_equals_a_fresh_download(
    sim: SimExchange, tmp_path: Path
) -> None:
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    fetch(sim, fresh)
    fetch(sim, resumed)
    path = resumed / "binance" / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    write_frame(path, read_frame(path).head(300))  # lose the tail
    requests = fetch(sim, resumed)
    last_kept = SINCE + timedelta(minutes=5 * 299)  # fetched again: it may have been open
    second_page = last_kept + timedelta(minutes=5 * 200)  # 1 + 276 rows, pages of 200
    assert [r for r in requests if "/klines" in r] == [
        f"/fapi/v1/klines@{ms(last_kept)}",
        f"/fapi/v1/klines@{ms(second_page)}",
    ]
    # Complete files: one request each, for their last row.
    assert [r for r in requests if "markPriceKlines" in r] == [
        f"/fapi/v1/markPriceKlines@{ms(NOW - timedelta(minutes=7))}",
        f"/fapi/v1/markPriceKlines@{ms(NOW - timedelta(minutes=62))}",
    ]
    for name, frame in files(fresh).items():
        pd.testing.assert_frame_equal(files(resumed)[name], frame, check_exact=True)


def test_an_earlier_since_fetches_the_head_only(sim: SimExchange, tmp_path: Path) -> None:
    fetch(sim, tmp_path, since=SINCE + timedelta(days=1))
    requests = fetch(sim, tmp_path, since=SINCE)
    assert [r for r in requests if "/klines" in r] == [  # 288 missing, pages of 200
        f"/fapi/v1/klines@{ms(SINCE)}",
        f"/fapi/v1/klines@{ms(SINCE + timedelta(minutes=5 * 200))}",
        f"/fapi/v1/klines@{ms(NOW - timedelta(minutes=7))}",  # the last row, again
    ]
    fresh = tmp_path / "fresh"
    fetch(sim, fresh)
    for name, frame in files(fresh).items():
        pd.testing.assert_frame_equal(files(tmp_path)[name], frame)


def test_missing_ranges_refetch_the_last_row_once_it_has_closed() -> None:
    frame = pd.DataFrame({"date": pd.to_datetime([SINCE, SINCE + timedelta(minutes=5)], utc=True)})
    step = timedelta(minutes=5)
    assert missing_ranges(frame, SINCE, SINCE + timedelta(minutes=9), step) == []
    assert missing_ranges(frame, SINCE, SINCE + timedelta(minutes=10), step) == [
        (SINCE + timedelta(minutes=5), SINCE + timedelta(minutes=10))
    ]


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(download_command)
    return app


def test_command_downloads_with_progress(sim: SimExchange, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(),
        ["--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2024-03-02",
         "--until", "2024-03-03", "--api-url", sim.url, "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "binanceusdm clock: 2024-03-03 00:02:00 UTC; closed candles up to it" in result.output
    assert (
        "BTC/USDT:USDT 1h futures: 24 rows (+24), 2024-03-02 00:00..2024-03-03 00:00 UTC, "
        "1 request -> " in result.output
    )
    assert (tmp_path / "binance" / "futures" / "BTC_USDT_USDT-1h-mark.feather").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeframe", "7x"], "unknown timeframe"),
        (["--since", "yesterday"], "is not a date"),
        (["--since", "2030-01-01", "--until", "2029-01-01"], "is not before"),
        (["--symbols", "BTCUSDT"], "expected a ccxt symbol"),
        (["--symbols", "DOGE/USDT:USDT"], "no market 'DOGE/USDT:USDT'"),
        (["--exchange", "nope"], "unsupported exchange 'nope'"),
        (["--exchange", "kraken"], "unsupported exchange 'kraken' (one of binanceusdm, bybit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sim: SimExchange, tmp_path: Path, args: list[str], message: str
) -> None:
    base = {"--symbols": BTC, "--timeframe": "5m", "--since": "2024-03-01"}
    argv = [x for k, v in base.items() if k not in args for x in (k, v)] + args
    argv += ["--api-url", sim.url, "--out", str(tmp_path)]
    result = CliRunner().invoke(cli(), argv)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert "Traceback" not in result.output


class CappedSource:
    """The sim through ccxt, but answering at most `cap` rows whatever the limit asked."""

    def __init__(self, feed: CcxtFeed, cap: int) -> None:
        self.feed, self.cap = feed, cap

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime, limit: int, price: str | None = None
    ) -> list[Candle]:
        return self.feed.fetch_ohlcv(symbol, timeframe, since, limit, price)[: self.cap]

    def fetch_funding_history(self, symbol: str, since: datetime, limit: int) -> list[FundingRate]:
        return self.feed.fetch_funding_history(symbol, since, limit)[: self.cap]


def test_a_smaller_exchange_cap_than_the_limit_still_pages_to_the_end(
    sim: SimExchange, tmp_path: Path
) -> None:
    source = CappedSource(feed_for(sim), cap=100)
    results = download(source, plan([BTC], "5m", tmp_path, "binanceusdm"), SINCE, NOW, 1000)
    assert [r.rows for r in results] == [576, 576, 48, 7]
    fresh = tmp_path / "fresh"
    fetch(sim, fresh)
    for name, frame in files(fresh).items():
        pd.testing.assert_frame_equal(files(tmp_path)[name], frame)


def test_an_open_candle_is_never_written_whatever_the_wall_clock(
    sim: SimExchange, tmp_path: Path
) -> None:
    # The wall clock is years past the sim's 2024-03-03 00:02 and --until later still: the
    # exchange's clock decides what has closed, so the 00:00 candle (open for 2 more minutes)
    # is not written.
    result = CliRunner().invoke(
        cli(),
        ["--symbols", BTC, "--timeframe", "5m", "--since", "2024-03-02T23:00",
         "--until", "2030-01-01", "--api-url", sim.url, "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    candles = files(tmp_path)["BTC_USDT_USDT-5m-futures.feather"]
    assert candles["date"].iloc[-1] == pd.Timestamp("2024-03-02 23:55", tz="UTC")
    assert len(candles) == 12
    assert "2024-03-02 23:00..2024-03-03 00:00 UTC" in result.output


def test_resume_repairs_a_trailing_candle_stored_while_open(
    sim: SimExchange, tmp_path: Path
) -> None:
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    fetch(sim, fresh)
    fetch(sim, resumed)
    path = resumed / "binance" / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    frame = read_frame(path)
    # What an older ltbot wrote: the last candle flat at its open with volume 0 (stored while
    # open), and a candle that had not even closed by the exchange's clock (00:00, open until
    # 00:05 while the sim is at 00:02).
    flat = frame.iloc[-1:].assign(high=frame["open"].iloc[-1], low=frame["open"].iloc[-1])
    flat = flat.assign(close=frame["open"].iloc[-1], volume=0.0)
    unclosed = flat.assign(date=pd.Timestamp("2024-03-03 00:00", tz="UTC"))
    write_frame(path, pd.concat([frame.iloc[:-1], flat, unclosed]))
    assert read_frame(path)["volume"].iloc[-2] == 0.0
    fetch(sim, resumed)
    pd.testing.assert_frame_equal(
        files(resumed)["BTC_USDT_USDT-5m-futures.feather"],
        files(fresh)["BTC_USDT_USDT-5m-futures.feather"],
        check_exact=True,
    )
