"""Recorded market data for the sim exchange: loading, resampling and point-in-time queries.

Files are found recursively by the freqtrade naming pattern
`<BASE>_<QUOTE>_<SETTLE>-<tf>-<futures|mark|funding_rate>.<feather|csv>` (CSV: columns
date,open,high,low,close,volume; date ISO 8601 or epoch milliseconds). Per symbol the finest
timeframe of each candle kind is used; files of that timeframe from several windows are
concatenated (later files win on duplicate dates). Funding files of every timeframe are merged,
with `date` rounded to the hour (Binance fundingTime carries millisecond jitter).

All times here are integer epoch milliseconds (UTC); prices in the quote currency (USDT).
Nothing here reads the clock: every query takes `at_ms`, the simulated time of the request.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.adapters import feather_data

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
# Binance kline intervals that are exact multiples of a minute and align to the epoch (3d, 1w and
# 1M do not, so they are not served).
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": 24 * HOUR_MS,
}
_UNIT_MS = {"m": MINUTE_MS, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS}
COLUMNS = ["open", "high", "low", "close", "volume"]
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "data"
SAMPLE_DIR = BUNDLED_DIR / "sample"
BUNDLED_EXCHANGE_INFO = BUNDLED_DIR / "exchange_info_btc_eth.json"


class SimDataError(ValueError):
    """The data directory is missing, holds no usable files, or a file is malformed."""


@dataclass(frozen=True)
class Candles:
    """OHLCV rows of one timeframe, sorted by open time (`open_ms`, epoch ms)."""

    tf_ms: int
    open_ms: IntArray
    o: FloatArray
    h: FloatArray
    low: FloatArray
    c: FloatArray
    v: FloatArray

    def __len__(self) -> int:
        return len(self.open_ms)

    def scaled(self, factor: FloatArray) -> Candles:
        """Prices multiplied row by row by `factor`; volume 0 (used for derived mark candles)."""
        return Candles(
            self.tf_ms,
            self.open_ms,
            self.o * factor,
            self.h * factor,
            self.low * factor,
            self.c * factor,
            np.zeros(len(self)),
        )


@dataclass(frozen=True)
class Bar:
    """One kline: open time (ms), OHLC prices, base volume."""

    open_ms: int
    o: float
    h: float
    low: float
    c: float
    v: float


@dataclass
class CandleSeries:
    """One price series (last trade or mark) served at every interval.

    `finest` builds the candle in progress and point prices; `by_tf` holds the precomputed
    candles of each servable interval (resampled from the finest data at load).
    """

    finest: Candles
    by_tf: dict[int, Candles] = field(default_factory=dict)

    def bars(
        self, tf_ms: int, at_ms: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[Bar]:
        """Klines visible at `at_ms` like Binance: closed candles plus the one in progress.

        `start_ms`/`end_ms` bound the open time (inclusive); with a start the first `limit`
        rows from it are returned, otherwise the last `limit` rows up to the end (or now).
        """
        table = self.by_tf[tf_ms]
        # Closed candles: open + tf <= at. Never a candle opening after `at`.
        closed_n = int(np.searchsorted(table.open_ms, at_ms - tf_ms, side="right"))
        lo = 0 if start_ms is None else int(np.searchsorted(table.open_ms, start_ms, "left"))
        hi = closed_n
        if end_ms is not None:
            hi = min(hi, int(np.searchsorted(table.open_ms, end_ms, side="right")))
        # Build only the rows that can survive the final limit cut.
        if start_ms is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        rows = [
            Bar(int(table.open_ms[i]), *(float(a[i]) for a in self._arrays(table)))
            for i in range(lo, hi)
        ]
        current = self.partial(tf_ms, at_ms)
        if (
            current is not None
            and (start_ms is None or current.open_ms >= start_ms)
            and (end_ms is None or current.open_ms <= end_ms)
            and (not rows or rows[-1].open_ms < current.open_ms)
        ):
            rows.append(current)
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def partial(self, tf_ms: int, at_ms: int) -> Bar | None:
        """The candle of `tf_ms` in progress at `at_ms`, from the finest candles closed by then.

        Assumption: before any finest candle of the period has closed, the candle in progress
        is flat at the open of the finest candle in progress (its open is known at its open
        time); volume counts closed finest candles only. None when no data covers `at_ms`.
        """
        f = self.finest
        period_open = at_ms - at_ms % tf_ms
        first = int(np.searchsorted(f.open_ms, period_open, side="left"))
        closed_end = int(np.searchsorted(f.open_ms, at_ms - f.tf_ms, side="right"))
        if closed_end > first:
            sl = slice(first, closed_end)
            return Bar(
                period_open,
                float(f.o[first]),
                float(f.h[sl].max()),
                float(f.low[sl].min()),
                float(f.c[closed_end - 1]),
                float(f.v[sl].sum()),
            )
        in_progress = int(np.searchsorted(f.open_ms, at_ms, side="right")) - 1
        if in_progress >= first and in_progress < len(f) and f.open_ms[in_progress] <= at_ms:
            price = float(f.o[in_progress])
            return Bar(period_open, price, price, price, price, 0.0)
        return None

    def price_at(self, at_ms: int) -> float | None:
        """The price at `at_ms`: close of the latest finest candle closed at or before `at_ms`.

        At the start of the data or after a gap, the open of the finest candle in progress
        (known at its open time) is newer and is used instead. None before the data starts.
        """
        price = float(self.prices_at(np.array([at_ms], dtype=np.int64))[0])
        return None if np.isnan(price) else price

    def prices_at(self, at_ms: IntArray) -> FloatArray:
        """`price_at` for many times at once (NaN before the data starts)."""
        f = self.finest
        closed = np.searchsorted(f.open_ms, at_ms - f.tf_ms, side="right") - 1
        opened = np.searchsorted(f.open_ms, at_ms, side="right") - 1
        safe_closed, safe_opened = np.clip(closed, 0, None), np.clip(opened, 0, None)
        use_close = (closed >= 0) & (f.open_ms[safe_opened] <= f.open_ms[safe_closed] + f.tf_ms)
        prices = np.where(use_close, f.c[safe_closed], f.o[safe_opened])
        return np.where(opened >= 0, prices, np.nan).astype(np.float64)

    @staticmethod
    def _arrays(t: Candles) -> tuple[FloatArray, ...]:
        return (t.o, t.h, t.low, t.c, t.v)


@dataclass
class SymbolData:
    """Everything recorded for one symbol (exchange id, e.g. BTCUSDT)."""

    symbol: str
    last: CandleSeries
    mark: CandleSeries
    basis: Basis | None  # set when the mark data is coarser than the last-trade data
    funding_ms: IntArray
    funding_rate: FloatArray
    funding_interval_ms: int
    files: list[Path]

    @property
    def first_ms(self) -> int:
        """Open time of the first last-trade candle."""
        return int(self.last.finest.open_ms[0])

    @property
    def end_ms(self) -> int:
        """Close time of the last last-trade candle."""
        f = self.last.finest
        return int(f.open_ms[-1]) + f.tf_ms

    def mark_at(self, at_ms: int) -> float | None:
        """Mark price at `at_ms`; None before the data starts.

        With mark candles as fine as the last-trade ones: the mark series' own price rule.
        With coarser mark candles (1 h next to 5 m), assumption: mark = last price x the basis
        (mark close / last) of the latest mark candle closed at or before `at_ms`, so it equals
        the recorded mark close on each mark candle's close and follows the last price between.
        Without mark data (or before it starts): the last price.
        """
        if self.basis is None:
            mark = self.mark.price_at(at_ms)
            return mark if mark is not None else self.last.price_at(at_ms)
        last = self.last.price_at(at_ms)
        if last is None:
            return None
        return last * float(self.basis.at(np.array([at_ms], dtype=np.int64))[0])

    def next_funding_ms(self, at_ms: int) -> int:
        """The first settlement strictly after `at_ms` (00/08/16 UTC for an 8 h interval)."""
        step = self.funding_interval_ms
        return at_ms - at_ms % step + step

    def funding_rate_for(self, settle_ms: int) -> float:
        """The recorded settled rate at `settle_ms`, else the latest one before it, else 0."""
        i = int(np.searchsorted(self.funding_ms, settle_ms, side="right")) - 1
        return float(self.funding_rate[i]) if i >= 0 else 0.0


def parse_tf(tf: str) -> int:
    """A freqtrade/Binance timeframe such as `5m` or `8h` in milliseconds."""
    match = re.fullmatch(r"(\d+)([mhdw])", tf)
    if match is None:
        raise SimDataError(f"unknown timeframe {tf!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def read_frame(path: Path) -> pd.DataFrame:
    """One freqtrade OHLCV file (feather or CSV) as columns open_ms + OHLCV, sorted, deduped."""
    try:
        frame = feather_data.read_frame(path)
    except feather_data.DataFormatError as exc:
        raise SimDataError(str(exc)) from None
    frame = frame.dropna(subset=["open", "close"])
    stamps = frame["date"].astype("int64").to_numpy(dtype=np.int64)  # datetime64[ms] -> ms
    return pd.DataFrame({"open_ms": stamps, **{c: frame[c].to_numpy() for c in COLUMNS}})


def to_candles(frame: pd.DataFrame, tf_ms: int) -> Candles:
    """Freeze a frame from `read_frame`/`resample` into arrays."""
    return Candles(
        tf_ms,
        frame["open_ms"].to_numpy(dtype=np.int64),
        *(frame[c].to_numpy(dtype=np.float64) for c in COLUMNS),
    )


def resample(c: Candles, tf_ms: int) -> Candles:
    """Coarser candles aligned to the epoch (like Binance): first/max/min/last/sum per period."""
    if tf_ms == c.tf_ms:
        return c
    frame = pd.DataFrame(
        {"o": c.o, "h": c.h, "low": c.low, "c": c.c, "v": c.v},
        index=pd.to_datetime(c.open_ms, unit="ms", utc=True),
    )
    grouped = frame.resample(pd.Timedelta(milliseconds=tf_ms), origin="epoch", label="left")
    out = grouped.agg({"o": "first", "h": "max", "low": "min", "c": "last", "v": "sum"})
    out = out[grouped["o"].count() > 0]
    return Candles(
        tf_ms,
        out.index.astype("datetime64[ms, UTC]").astype("int64").to_numpy(dtype=np.int64),
        *(out[k].to_numpy(dtype=np.float64) for k in ("o", "h", "low", "c", "v")),
    )


def build_series(finest: Candles, coarse: Candles | None = None) -> CandleSeries:
    """A series with every interval >= `finest.tf_ms` precomputed.

    With `coarse` (recorded candles of a coarser timeframe, e.g. real 1 h mark candles next to
    derived 5 m ones), intervals >= `coarse.tf_ms` are resampled from `coarse` instead.
    """
    series = CandleSeries(finest)
    for tf_ms in INTERVAL_MS.values():
        if tf_ms < finest.tf_ms or tf_ms % finest.tf_ms:
            continue
        if coarse is not None and tf_ms >= coarse.tf_ms and tf_ms % coarse.tf_ms == 0:
            series.by_tf[tf_ms] = resample(coarse, tf_ms)
        else:
            series.by_tf[tf_ms] = resample(finest, tf_ms)
    return series


@dataclass(frozen=True)
class Basis:
    """Recorded mark / last ratio at the close of each mark candle (`close_ms`, epoch ms)."""

    close_ms: IntArray
    ratio: FloatArray

    @staticmethod
    def of(last: Candles, mark: Candles) -> Basis:
        """Ratio of each mark close to the last price at the same instant."""
        close_ms = (mark.open_ms + mark.tf_ms).astype(np.int64)
        last_at = CandleSeries(last).prices_at(close_ms)
        ratio = np.where(np.isfinite(last_at) & (last_at > 0), mark.c / last_at, 1.0)
        return Basis(close_ms, ratio.astype(np.float64))

    def at(self, at_ms: IntArray) -> FloatArray:
        """Ratio of the latest mark candle closed at or before each time; 1 before the first."""
        idx = np.searchsorted(self.close_ms, at_ms, side="right") - 1
        return np.where(idx >= 0, self.ratio[np.clip(idx, 0, None)], 1.0).astype(np.float64)


def derive_mark(last: Candles, basis: Basis) -> Candles:
    """Mark candles at the last-trade timeframe: last-trade prices times the recorded basis.

    Assumption: within a recorded mark candle the basis (mark / last) stays at the value of the
    latest mark candle closed at or before the row's open; before the first one it is 1.
    """
    return last.scaled(basis.at(last.open_ms))


def find_files(root: Path) -> dict[tuple[str, str], dict[int, list[Path]]]:
    """(symbol, kind) -> timeframe ms -> files, for every perpetual file named like freqtrade's."""
    found: dict[tuple[str, str], dict[int, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for item in feather_data.scan_data_dir(root):
        base_quote, _, settle = item.symbol.partition(":")
        if not settle or item.candle_type not in ("futures", "mark", "funding_rate"):
            continue  # spot, index and premium-index files are not served
        try:
            tf_ms = parse_tf(item.timeframe)
        except SimDataError:
            continue  # 1M: months are not a fixed length
        found[(base_quote.replace("/", ""), item.candle_type)][tf_ms].append(item.path)
    return found


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [read_frame(p) for p in paths]
    merged = pd.concat(frames) if len(frames) > 1 else frames[0]
    return merged.sort_values("open_ms").drop_duplicates("open_ms", keep="last")


def load_symbol(symbol: str, files: dict[str, dict[int, list[Path]]]) -> SymbolData:
    """Load one symbol from its files (by kind, then timeframe)."""
    last_tf = min(files["futures"])
    used = list(files["futures"][last_tf])
    last = to_candles(_concat(files["futures"][last_tf]), last_tf)
    if len(last) == 0:
        raise SimDataError(f"{symbol}: no rows in {used[0]}")
    mark_series = CandleSeries(last.scaled(np.ones(len(last))))
    basis: Basis | None = None
    if files.get("mark"):
        mark_tf = min(files["mark"])
        used += files["mark"][mark_tf]
        mark = to_candles(_concat(files["mark"][mark_tf]), mark_tf)
        if len(mark) and mark_tf <= last_tf:
            mark_series = build_series(mark)
        elif len(mark):
            basis = Basis.of(last, mark)
            mark_series = build_series(derive_mark(last, basis), mark)
    if mark_series.by_tf == {}:
        mark_series = build_series(mark_series.finest)
    funding_paths = [p for paths in files.get("funding_rate", {}).values() for p in paths]
    used += funding_paths
    funding_ms = np.array([], dtype=np.int64)
    rates = np.array([], dtype=np.float64)
    interval = 8 * HOUR_MS
    if funding_paths:
        funding = _concat(funding_paths)
        # Settlements are on the hour; recorded fundingTime has ms jitter (08:00:00.008).
        hours = (funding["open_ms"].to_numpy(dtype=np.int64) + HOUR_MS // 2) // HOUR_MS * HOUR_MS
        funding = funding.assign(open_ms=hours).drop_duplicates("open_ms", keep="last")
        funding_ms = funding["open_ms"].to_numpy(dtype=np.int64)
        rates = funding["open"].to_numpy(dtype=np.float64)
        if len(funding_ms) > 1:
            interval = int(np.median(np.diff(funding_ms)))
    return SymbolData(
        symbol, build_series(last), mark_series, basis, funding_ms, rates, interval, sorted(used)
    )


def load_market_data(root: Path) -> dict[str, SymbolData]:
    """Every symbol with last-trade candles under `root` (searched recursively)."""
    if not root.is_dir():
        raise SimDataError(f"data directory not found: {root}")
    found = find_files(root)
    by_symbol: dict[str, dict[str, dict[int, list[Path]]]] = defaultdict(dict)
    for (symbol, kind), tfs in found.items():
        by_symbol[symbol][kind] = tfs
    data = {
        symbol: load_symbol(symbol, files)
        for symbol, files in sorted(by_symbol.items())
        if files.get("futures")
    }
    if not data:
        raise SimDataError(
            f"no usable data under {root}: expected files like "
            "BTC_USDT_USDT-5m-futures.feather (freqtrade layout, .feather or .csv)"
        )
    return data


def find_exchange_info(root: Path | None) -> Path:
    """The exchangeInfo snapshot to serve: a `*exchangeInfo*.json` under `root`, else bundled.

    Among several, USDⓈ-M (`fapi`) snapshots are preferred, then the last by name.
    """
    candidates = sorted(root.rglob("*exchangeInfo*.json")) if root is not None else []
    fapi = [p for p in candidates if "fapi" in p.name.lower()]
    chosen = (fapi or candidates)[-1:] or [BUNDLED_EXCHANGE_INFO]
    return chosen[0]
