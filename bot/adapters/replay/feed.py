"""Replay market data on a replay clock: a data directory or a recorded database.

Data directory (freqtrade feather or CSV layout, see `feather_data`): per symbol the finest
`futures` timeframe drives the replay; one update per candle close time `t` carries
  candles  the finest candles closing at `t` (open/high/low/close kept, so the engine walks the
           path inside the bar: open -> nearer extreme -> farther extreme -> close);
  quotes   one per symbol with a candle closing at `t`: last = close; mark = close x the latest
           recorded mark/last basis at or before `t` (the sim exchange's rule; None without mark
           data); funding_rate and next_funding_at = the next settlement after `t` and its rate
           (the settled rate stands in for the prediction);
  funding  settled rates in (previous t, t] (times rounded to the hour);
  mark_bars  the mark candle of each of those candles when the mark klines have the same
           timeframe (the engine walks the mark inside the bar with it; a malformed mark
           candle is left out, and the last price stands in for that bar's mark path).
Recorded database: ticks in time order, grouped into one update per poll (a group ends when a
symbol repeats); a recorded candle or settled rate joins the update of the step that received
it live (`received_at`, the step time), or, when that is NULL (rows recorded before migration
0004, copied data), the first update at or after the candle's close time or the settlement.
Both are deterministic: the same input gives the same updates.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from bot.adapters.replay.feather import (
    DataFile,
    DataFormatError,
    frame_to_candles,
    frame_to_funding,
    merge_frames,
    read_frame,
    scan_data_dir,
)
from bot.adapters.sqlite.store import Store
from bot.adapters.sqlite.timefmt import format_time, parse_time
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.bars import timeframe_seconds
from bot.engine.ports import MarketUpdate
from bot.engine.validation import sound_candle
from bot.runtime.clock import ReplayClock


@dataclass(slots=True)
class _Series:
    symbol: str
    candles: list[Candle]
    step: timedelta
    basis_at: list[datetime]  # times of known mark/last ratios, ascending
    basis: list[float]
    marks: dict[datetime, float]  # mark candle close by close time
    mark_bars: dict[datetime, Candle]  # mark candle by open time (same timeframe only)
    funding: list[FundingRate]
    funding_at: list[datetime]
    pos: int = 0
    # Where the last bisection of each list ended (replay times only grow).
    basis_pos: int = 0
    funding_pos: int = 0
    settled_pos: int = 0


class ReplayFeed:
    """A `Feed` over recorded history; iterate it for as-fast-as-possible replays, or `poll`.

    Build with `from_data_dir`, `from_database` or `open` (either, by what the path is).
    `clock` (a ReplayClock) is set to each update's time as the update is produced.
    """

    def __init__(self, updates: Iterable[MarketUpdate], clock: ReplayClock | None = None) -> None:
        self._updates = iter(updates)
        self.clock = clock
        self._ahead: MarketUpdate | None = None
        self._closers: list[Store] = []
        # First and last update time (UTC) when known up front: a progress bar's range.
        self.span: tuple[datetime, datetime] | None = None
        # Closed candles to warm the strategies up with before the first update (a recorded
        # database's warm-up bars; none for a data directory).
        self.history: tuple[Candle, ...] = ()

    @classmethod
    def open(cls, path: Path, **kwargs: object) -> ReplayFeed:
        """A data directory or a recorded SQLite database, by what `path` is."""
        if path.is_dir():
            return cls.from_data_dir(path, **kwargs)  # type: ignore[arg-type]
        if path.is_file():
            return cls.from_database(path, **kwargs)  # type: ignore[arg-type]
        raise DataFormatError(f"{path}: no such data directory or database")

    @classmethod
    def from_data_dir(
        cls,
        root: Path,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        clock: ReplayClock | None = None,
    ) -> ReplayFeed:
        """Replay candle files under `root`; `start`/`end` bound candle open/close times."""
        series = _load_series(scan_data_dir(root), symbols, start, end)
        feed = cls(_data_dir_updates(series), clock)
        if series:
            closes = [(s.candles[0].at + s.step, s.candles[-1].at + s.step) for s in series]
            feed.span = (min(a for a, _ in closes), max(b for _, b in closes))
        return feed

    @classmethod
    def from_database(
        cls,
        path: Path | Store,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        clock: ReplayClock | None = None,
    ) -> ReplayFeed:
        """Replay the ticks, candles and funding a live session recorded."""
        store = path if isinstance(path, Store) else Store(path)
        span = store.tick_span(symbols, start, end)
        extras = _recorded_extras(store, symbols, start, end)
        # Candles recorded outside a step that closed by the first tick are the strategies'
        # warm-up bars (bot.runtime.warmup): history before the first step, not bars of it.
        first = None if span is None else span[0]
        warm = [x for x in extras if first is not None and _warm_up(x, first)]
        rest = [x for x in extras if first is None or not _warm_up(x, first)]
        feed = cls(_database_updates(store, symbols, start, end, rest), clock)
        feed.history = tuple(c for _, c, _ in warm if isinstance(c, Candle))
        feed.span = span
        if not isinstance(path, Store):
            feed._closers.append(store)
        return feed

    def __iter__(self) -> Iterator[MarketUpdate]:
        return self

    def __next__(self) -> MarketUpdate:
        update = self._ahead if self._ahead is not None else next(self._updates)
        self._ahead = None
        if self.clock is not None:
            self.clock.set(update.at)
        return update

    def poll(self, at: datetime) -> MarketUpdate:
        """Everything up to `at` not yet returned, merged (latest quote per symbol)."""
        quotes: dict[str, Quote] = {}
        candles: list[Candle] = []
        funding: list[FundingRate] = []
        while True:
            if self._ahead is None:
                self._ahead = next(self._updates, None)
            if self._ahead is None or self._ahead.at > at:
                break
            update, self._ahead = self._ahead, None
            quotes.update((q.symbol, q) for q in update.quotes)
            candles.extend(update.candles)
            funding.extend(update.funding)
        return MarketUpdate(at, tuple(quotes.values()), tuple(candles), tuple(funding))

    def close(self) -> None:
        """Close a database opened by `from_database` (idempotent)."""
        for store in self._closers:
            store.close()
        self._closers.clear()


# -- data directory ----------------------------------------------------------------------


def _load_series(
    files: list[DataFile],
    symbols: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[_Series]:
    by_symbol: dict[str, list[DataFile]] = {}
    for f in files:
        if f.candle_type in ("futures", "mark", "funding_rate"):
            by_symbol.setdefault(f.symbol, []).append(f)
    wanted = sorted(by_symbol) if symbols is None else list(symbols)
    series = []
    for symbol in wanted:
        mine = by_symbol.get(symbol, [])
        candles, step = _finest(mine, "futures", symbol, start, end)
        if not candles:
            raise DataFormatError(f"no futures candles for {symbol} in the data directory")
        mark, mark_step = _finest(
            mine, "mark", symbol, start - timedelta(days=1) if start else None, end
        )
        basis_at, basis = _basis(candles, step, mark, mark_step)
        rates = _funding(mine, symbol)
        marks = {m.at + mark_step: m.close for m in mark}
        bars = {m.at: m for m in mark if sound_candle(m)} if mark and mark_step == step else {}
        funding_at = [r.at for r in rates]
        series.append(
            _Series(symbol, candles, step, basis_at, basis, marks, bars, rates, funding_at)
        )
    return series


def _finest(
    files: list[DataFile], kind: str, symbol: str, start: datetime | None, end: datetime | None
) -> tuple[list[Candle], timedelta]:
    chosen = [f for f in files if f.candle_type == kind]
    if not chosen:
        return [], timedelta(0)
    seconds = min(timeframe_seconds(f.timeframe) for f in chosen)
    parts = [read_frame(f.path) for f in chosen if timeframe_seconds(f.timeframe) == seconds]
    frame = merge_frames(*parts)
    step = timedelta(seconds=seconds)
    if start is not None:
        frame = frame[frame["date"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["date"] + step <= pd.Timestamp(end)]
    timeframe = next(f.timeframe for f in chosen if timeframe_seconds(f.timeframe) == seconds)
    return frame_to_candles(frame, symbol, timeframe), step


def _basis(
    candles: list[Candle], step: timedelta, marks: list[Candle], mark_step: timedelta
) -> tuple[list[datetime], list[float]]:
    # mark/last at each mark candle's close, where a last-price candle closes at the same time
    # (`marks` are one timeframe's: `_finest`, bars of `mark_step`).
    closes = {c.at + step: c.close for c in candles}
    times: list[datetime] = []
    ratios: list[float] = []
    for m in marks:
        close_at = m.at + mark_step
        last = closes.get(close_at)
        if last:
            times.append(close_at)
            ratios.append(m.close / last)
    return times, ratios


def _funding(files: list[DataFile], symbol: str) -> list[FundingRate]:
    frames = [read_frame(f.path) for f in files if f.candle_type == "funding_rate"]
    return frame_to_funding(merge_frames(*frames), symbol) if frames else []


def _data_dir_updates(series: list[_Series]) -> Iterator[MarketUpdate]:
    times = sorted({c.at + s.step for s in series for c in s.candles})
    previous: datetime | None = None
    for t in times:
        quotes, candles, funding, marks = [], [], [], []
        for s in series:
            if s.pos < len(s.candles) and s.candles[s.pos].at + s.step == t:
                candle = s.candles[s.pos]
                s.pos += 1
                candles.append(candle)
                quotes.append(_quote(s, candle, t))
                if (mark := s.mark_bars.get(candle.at)) is not None:
                    marks.append(mark)
            if previous is not None:
                funding.extend(_settled(s, previous, t))
        previous = t
        yield MarketUpdate(t, tuple(quotes), tuple(candles), tuple(funding), tuple(marks))


def _quote(s: _Series, candle: Candle, t: datetime) -> Quote:
    # A mark candle closing at `t` gives the mark; between coarser mark closes, the last
    # price times the latest known mark/last basis (None before the first mark close).
    # Times only grow, so the bisections below start from where the previous one ended.
    mark = s.marks.get(t)
    if mark is None:
        i = s.basis_pos = bisect.bisect_right(s.basis_at, t, s.basis_pos)
        mark = candle.close * s.basis[i - 1] if i > 0 else None
    j = s.funding_pos = bisect.bisect_right(s.funding_at, t, s.funding_pos)
    upcoming = s.funding[j] if j < len(s.funding) else None
    return Quote(
        s.symbol,
        t,
        candle.close,
        mark,
        None,
        None,
        None,
        None if upcoming is None else upcoming.rate,
        None if upcoming is None else upcoming.at,
    )


def _settled(s: _Series, previous: datetime, t: datetime) -> list[FundingRate]:
    pos = s.settled_pos
    if pos == len(s.funding_at) or s.funding_at[pos] > t:
        return []  # the usual step: no settlement in (previous, t] (times only grow)
    lo = bisect.bisect_right(s.funding_at, previous, pos)
    hi = s.settled_pos = bisect.bisect_right(s.funding_at, t, lo)
    return s.funding[lo:hi]


# -- recorded database -------------------------------------------------------------------


def _warm_up(extra: tuple[datetime, Candle | FundingRate, bool], first_tick: datetime) -> bool:
    # A candle recorded outside a step (`received_at` NULL) released by the first tick.
    release, row, outside = extra
    return outside and isinstance(row, Candle) and release <= first_tick


def _database_updates(
    store: Store,
    symbols: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    pending: Sequence[tuple[datetime, Candle | FundingRate, bool]],
) -> Iterator[MarketUpdate]:
    # `pending`: (release time, candle | rate, recorded outside a step), by release time
    released = 0
    group: dict[str, Quote] = {}

    def flush(at: datetime) -> MarketUpdate:
        nonlocal released
        extras = []
        while released < len(pending) and pending[released][0] <= at:
            extras.append(pending[released][1])
            released += 1
        candles = tuple(x for x in extras if isinstance(x, Candle))
        funding = tuple(x for x in extras if isinstance(x, FundingRate))
        return MarketUpdate(at, tuple(group.values()), candles, funding)

    for tick in store.iter_ticks(symbols, start, end):
        if tick.symbol in group:
            yield flush(max(q.at for q in group.values()))
            group = {}
        group[tick.symbol] = tick
    if group:
        yield flush(max(q.at for q in group.values()))
        group = {}
    if released < len(pending):
        yield flush(pending[-1][0])


def _recorded_extras(
    store: Store, symbols: Sequence[str] | None, start: datetime | None, end: datetime | None
) -> list[tuple[datetime, Candle | FundingRate, bool]]:
    """(release time, candle or rate, whether `received_at` is NULL), by release time."""
    # One row per (symbol, timeframe) names the recorded candle series.
    firsts = store.rows(
        "candles", where="rowid IN (SELECT MIN(rowid) FROM candles GROUP BY symbol, timeframe)"
    )
    out: list[tuple[datetime, Candle | FundingRate, bool]] = []
    for row in firsts:
        if symbols is not None and row["symbol"] not in symbols:
            continue
        step = timedelta(seconds=timeframe_seconds(row["timeframe"]))
        rows = store.rows(
            "candles",
            "symbol = ? AND timeframe = ? AND at >= ? AND at <= ?",
            [row["symbol"], row["timeframe"], *_range(start, end)],
            "at",
        )
        for r in rows:
            c = Candle(
                r["symbol"],
                r["timeframe"],
                parse_time(r["at"]),
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"],
            )
            received = r["received_at"]
            release = c.at + step if received is None else parse_time(received)
            out.append((release, c, received is None))
    if symbols is None:
        firsts = store.rows(
            "funding_rates", where="rowid IN (SELECT MIN(rowid) FROM funding_rates GROUP BY symbol)"
        )
        names = {str(r["symbol"]) for r in firsts}
    else:
        names = set(symbols)
    for symbol in sorted(names):
        where = "symbol = ? AND at >= ? AND at <= ?"
        for r in store.rows("funding_rates", where, [symbol, *_range(start, end)], "at"):
            f = FundingRate(r["symbol"], parse_time(r["at"]), r["rate"])
            received = r["received_at"]
            out.append((f.at if received is None else parse_time(received), f, received is None))
    out.sort(key=lambda item: (item[0], isinstance(item[1], FundingRate), item[1].symbol))
    return out


def _range(start: datetime | None, end: datetime | None) -> list[str]:
    # Bounds of `at` for "at >= ? AND at <= ?" (both inclusive, as the store's time filter);
    # "" and "~" sort before and after every fixed-width time text.
    return ["" if start is None else format_time(start), "~" if end is None else format_time(end)]
