"""Recorded market data for the sim exchange, held as arrays, with point-in-time queries.

Loading and resampling live in `bot.adapters.sim.load`. All times here are integer epoch
milliseconds (UTC); prices in the quote currency (USDT). Nothing here reads the clock: every
query takes `at_ms`, the simulated time of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

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
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data"
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
