"""Resumable history download into freqtrade's feather layout.

For each symbol, under `<out>/<freqtrade exchange dir>/futures/` (`binance` for binanceusdm, as
freqtrade names it; `bybit`, `okx`): last-trade OHLCV at the requested timeframe (`futures`),
mark-price OHLCV at that timeframe and at freqtrade's `mark_ohlcv_timeframe` (1h), and settled
funding at freqtrade's `funding_fee_timeframe` (1h) in freqtrade's legacy OHLCV shape (the rate in
`open`, which freqtrade 2026.9 still reads and older versions require). So
`-t 5m` writes `BTC_USDT_USDT-5m-futures.feather`, `-5m-mark`, `-1h-mark` and
`-1h-funding_rate`, the files `freqtrade download-data --trading-mode futures -t 5m` writes
(freqtrade/exchange/exchange.py `_ft_has_default`; data/history/history_utils.py).

Only closed candles are written: `until` is bounded by the exchange's clock by the caller, and
a candle is kept only when it closes by `until`. An existing file is read first; rows that have
not closed by `until` are dropped (a candle stored while open by an older version), its last
row is fetched again (so a trailing candle stored while open is repaired), and only what it
lacks is fetched: the range after its last row and, when `since` is earlier than its first row,
the range before it (holes in the middle are left alone). Requests are paged by `limit`; files
are rewritten atomically after every few pages, so an interrupted download keeps what it got
and the next run continues from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import pandas as pd

from bot.adapters.ccxt.parse import to_ms
from bot.adapters.replay.feather import (
    data_path,
    empty_frame,
    funding_to_frame,
    merge_frames,
    read_frame,
    rows_to_frame,
    write_frame,
)
from bot.domain.values import Candle, FundingRate
from bot.engine.bars import timeframe_seconds

# freqtrade's `_ft_has_default` "funding_fee_timeframe" and "mark_ohlcv_timeframe" (2026.9;
# Binance keeps the default): the timeframes in its funding and mark file names.
FUNDING_FILE_TIMEFRAME = "1h"
MARK_FILE_TIMEFRAME = "1h"
# freqtrade's data directory per ccxt id: it trades Binance USDⓈ-M as `binance` in futures mode.
FREQTRADE_EXCHANGE_DIRS = {"binanceusdm": "binance"}
# Funding intervals can be 1, 4 or 8 hours: look for a new settlement after one hour.
FUNDING_STEP = timedelta(hours=1)
WRITE_EVERY_PAGES = 10


class HistorySource(Protocol):
    """Paged history, e.g. `CcxtFeed` (with its retries)."""

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime, limit: int, price: str | None = None
    ) -> list[Candle]:
        """Up to `limit` candles opening at or after `since`."""
        ...

    def fetch_funding_history(self, symbol: str, since: datetime, limit: int) -> list[FundingRate]:
        """Up to `limit` settled funding rates at or after `since`."""
        ...


@dataclass(frozen=True, slots=True)
class DownloadJob:
    """One file to bring up to date."""

    symbol: str
    timeframe: str  # of the candles; FUNDING_FILE_TIMEFRAME for funding
    candle_type: str  # futures | mark | funding_rate
    path: Path

    @property
    def step(self) -> timedelta:
        """Spacing of rows (funding: the shortest interval looked for)."""
        if self.candle_type == "funding_rate":
            return FUNDING_STEP
        return timedelta(seconds=timeframe_seconds(self.timeframe))

    @property
    def label(self) -> str:
        """`BTC/USDT:USDT 5m futures` for the progress bar."""
        return f"{self.symbol} {self.timeframe} {self.candle_type}"


@dataclass(slots=True)
class JobResult:
    """What one job did."""

    job: DownloadJob
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    requests: int = 0
    fetched: int = 0  # rows received inside the missing ranges
    rows: int = 0  # rows in the file afterwards
    added: int = 0  # rows in the file afterwards less the closed rows it held before
    # Open of the first row and close of the last (funding: first and last settlement).
    covered: tuple[datetime, datetime] | None = None


Progress = Callable[[DownloadJob, int, int], None]  # (job, rows so far, expected rows)


def exchange_dir(exchange: str) -> str:
    """freqtrade's data directory name for a ccxt exchange id (binanceusdm -> binance)."""
    return FREQTRADE_EXCHANGE_DIRS.get(exchange, exchange)


def plan(symbols: Sequence[str], timeframe: str, out: Path, exchange: str) -> list[DownloadJob]:
    """The files of every symbol: futures and mark at `timeframe`, mark at 1h, funding."""
    timeframe_seconds(timeframe)  # ValueError on a bad timeframe, before any request
    folder = exchange_dir(exchange)
    jobs = []
    for symbol in symbols:
        for kind, tf in (
            ("futures", timeframe),
            ("mark", timeframe),
            ("mark", MARK_FILE_TIMEFRAME),
        ):
            job = DownloadJob(symbol, tf, kind, data_path(out, folder, symbol, tf, kind))
            if job not in jobs:
                jobs.append(job)
        path = data_path(out, folder, symbol, FUNDING_FILE_TIMEFRAME, "funding_rate")
        jobs.append(DownloadJob(symbol, FUNDING_FILE_TIMEFRAME, "funding_rate", path))
    return jobs


def closed_rows(existing: pd.DataFrame, until: datetime, job: DownloadJob) -> pd.DataFrame:
    """The rows of a file that exist by `until`: candles closed by then, settlements by then."""
    if existing.empty:
        return existing
    span = timedelta(0) if job.candle_type == "funding_rate" else job.step
    kept = existing[existing["date"] + span <= pd.Timestamp(until)]
    return kept.reset_index(drop=True)


def missing_ranges(
    existing: pd.DataFrame, since: datetime, until: datetime, step: timedelta
) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges to fetch: before the first row (if `since` is at least a step
    earlier) and from the last row on, once that row has closed by `until`: it is fetched
    again, so a candle stored while still open (by another tool or an older ltbot) is
    replaced by the closed one, at the cost of one request per file and run."""
    if existing.empty:
        return [(since, until)] if since + step <= until else []
    first = existing["date"].iloc[0].to_pydatetime()
    last = existing["date"].iloc[-1].to_pydatetime()
    ranges = []
    if since + step <= first:
        ranges.append((since, first))
    if last + step <= until:
        ranges.append((last, until))
    return ranges


def run_job(
    source: HistorySource,
    job: DownloadJob,
    since: datetime,
    until: datetime,
    limit: int = 1000,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> JobResult:
    """Bring one file up to date for [since, until); return what was done.

    `now`: the exchange's time (default `until`); stored rows not closed by then go."""
    stored = read_frame(job.path) if job.path.exists() else empty_frame()
    frame = closed_rows(stored, now or until, job)
    dropped = len(stored) - len(frame)  # rows stored before they existed: rewritten below
    result = JobResult(job, missing_ranges(frame, since, until, job.step))
    expected = sum(int((end - start) / job.step) for start, end in result.ranges)
    if job.candle_type == "funding_rate":
        expected = max(1, expected // 8)  # usually 8-hourly
    pages: list[pd.DataFrame] = []
    for start, end in result.ranges:
        for page in _pages(source, job, start, end, limit):
            result.requests += 1
            result.fetched += len(page)
            if not page.empty:
                pages.append(page)
            if progress is not None:
                progress(job, result.fetched, max(expected, result.fetched))
            if len(pages) >= WRITE_EVERY_PAGES:
                frame = merge_frames(frame, *pages)
                write_frame(job.path, frame)
                pages = []
    if pages or dropped or not job.path.exists():
        frame = merge_frames(frame, *pages)
        write_frame(job.path, frame)
    result.rows = len(frame)
    result.added = len(frame) - (len(stored) - dropped)
    if not frame.empty:
        span = timedelta(0) if job.candle_type == "funding_rate" else job.step
        first, last = frame["date"].iloc[0], frame["date"].iloc[-1]
        result.covered = (first.to_pydatetime(), last.to_pydatetime() + span)
    return result


def _pages(
    source: HistorySource, job: DownloadJob, start: datetime, end: datetime, limit: int
) -> Iterator[pd.DataFrame]:
    """The rows of each request over [start, end), until a request brings nothing new.

    A short page does not end the range: exchanges cap `limit` differently (Binance klines
    1500, funding 1000; OKX 100-300), so only an empty page does."""
    cursor = start
    while cursor + (job.step if job.candle_type != "funding_rate" else timedelta(0)) <= end:
        if job.candle_type == "funding_rate":
            rates = source.fetch_funding_history(job.symbol, cursor, limit)
            kept_rates = [r for r in rates if cursor <= r.at < end]
            yield funding_to_frame(kept_rates)
            if not kept_rates:
                return
            # Funding times are rounded to the hour: go on a second after the last one.
            cursor = kept_rates[-1].at + timedelta(seconds=1)
        else:
            price = "mark" if job.candle_type == "mark" else None
            candles = source.fetch_ohlcv(job.symbol, job.timeframe, cursor, limit, price)
            # Only closed candles: the one in progress at `end` is left for the next run.
            kept = [c for c in candles if cursor <= c.at and c.at + job.step <= end]
            yield _candles_frame(kept)
            if not kept:
                return
            cursor = kept[-1].at + job.step


def _candles_frame(candles: Sequence[Candle]) -> pd.DataFrame:
    rows = [[to_ms(c.at), c.open, c.high, c.low, c.close, c.volume] for c in candles]
    return rows_to_frame(rows)


def download(
    source: HistorySource,
    jobs: Sequence[DownloadJob],
    since: datetime,
    until: datetime,
    limit: int = 1000,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> list[JobResult]:
    """Run every job in order; return their results (`now`: the exchange's time)."""
    if since >= until:
        raise ValueError(f"since {since.isoformat()} is not before {until.isoformat()}")
    return [run_job(source, job, since, until, limit, progress, now) for job in jobs]
