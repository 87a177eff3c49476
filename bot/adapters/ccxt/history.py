"""Resumable history download into freqtrade's feather layout.

For each symbol: last-trade OHLCV (`futures`), mark-price OHLCV (`mark`) and settled funding
(`funding_rate`, the rate in `open`) under `<out>/<exchange>/futures/`. An existing file is
read first and only what it lacks is fetched: the range after its last row and, when `since`
is earlier than its first row, the range before it (holes in the middle are left alone).
Requests are paged by `limit`; files are rewritten atomically after every few pages, so an
interrupted download keeps what it got and the next run continues from there.
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

FUNDING_FILE_TIMEFRAME = "8h"  # freqtrade's name for Binance funding files
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


Progress = Callable[[DownloadJob, int, int], None]  # (job, rows so far, expected rows)


def plan(symbols: Sequence[str], timeframe: str, out: Path, exchange: str) -> list[DownloadJob]:
    """The three files of every symbol."""
    timeframe_seconds(timeframe)  # ValueError on a bad timeframe, before any request
    jobs = []
    for symbol in symbols:
        for kind in ("futures", "mark"):
            path = data_path(out, exchange, symbol, timeframe, kind)
            jobs.append(DownloadJob(symbol, timeframe, kind, path))
        path = data_path(out, exchange, symbol, FUNDING_FILE_TIMEFRAME, "funding_rate")
        jobs.append(DownloadJob(symbol, FUNDING_FILE_TIMEFRAME, "funding_rate", path))
    return jobs


def missing_ranges(
    existing: pd.DataFrame, since: datetime, until: datetime, step: timedelta
) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges to fetch: before the first row (if `since` is at least a step
    earlier) and after the last row (if a whole step fits before `until`)."""
    if existing.empty:
        return [(since, until)] if since + step <= until else []
    first = existing["date"].iloc[0].to_pydatetime()
    last = existing["date"].iloc[-1].to_pydatetime()
    ranges = []
    if since + step <= first:
        ranges.append((since, first))
    if last + 2 * step <= until:  # the row after `last` has closed by `until`
        ranges.append((last + step, until))
    return ranges


def run_job(
    source: HistorySource,
    job: DownloadJob,
    since: datetime,
    until: datetime,
    limit: int = 1000,
    progress: Progress | None = None,
) -> JobResult:
    """Bring one file up to date for [since, until); return what was done."""
    frame = read_frame(job.path) if job.path.exists() else empty_frame()
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
    if pages or not job.path.exists():
        frame = merge_frames(frame, *pages)
        write_frame(job.path, frame)
    result.rows = len(frame)
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
) -> list[JobResult]:
    """Run every job in order; return their results."""
    if since >= until:
        raise ValueError(f"since {since.isoformat()} is not before {until.isoformat()}")
    return [run_job(source, job, since, until, limit, progress) for job in jobs]
