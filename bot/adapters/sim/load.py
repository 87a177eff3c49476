"""Load recorded market data for the sim exchange from a directory, resampled at load.

Files are found recursively by the freqtrade naming pattern
`<BASE>_<QUOTE>_<SETTLE>-<tf>-<futures|mark|funding_rate>.<feather|csv>` (CSV: columns
date,open,high,low,close,volume; date ISO 8601 or epoch milliseconds), read through
`bot.adapters.replay.feather`. Per symbol the finest timeframe of each candle kind is used; files
of that timeframe from several windows are concatenated (later files win on duplicate dates).
Funding files of every timeframe are merged, with `date` rounded to the hour (Binance
fundingTime carries millisecond jitter). A symbol needs last-trade (`futures`) candles; mark and
funding are optional (mark falls back to last, the funding rate to 0).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bot.adapters.ccxt.market_rules import BUNDLED_EXCHANGE_INFO as BUNDLED_FULL_NAME
from bot.adapters.ccxt.market_rules import bundled_exchange_info
from bot.adapters.replay import feather as feather_data
from bot.adapters.sim.data import (
    BUNDLED_EXCHANGE_INFO,
    HOUR_MS,
    INTERVAL_MS,
    MINUTE_MS,
    Basis,
    Candles,
    CandleSeries,
    SimDataError,
    SymbolData,
)

_UNIT_MS = {"m": MINUTE_MS, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS}
COLUMNS = ["open", "high", "low", "close", "volume"]


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


def find_exchange_info(root: Path | None) -> Path | None:
    """The exchangeInfo snapshot to serve: a `*exchangeInfo*.json` under `root`; the bundled
    BTC/ETH one for the bundled sample (`root` None); None: serve the bundled full snapshot.

    Among several, USDⓈ-M (`fapi`) snapshots are preferred, then the last by name.
    """
    if root is None:
        return BUNDLED_EXCHANGE_INFO
    candidates = sorted(root.rglob("*exchangeInfo*.json"))
    fapi = [p for p in candidates if "fapi" in p.name.lower()]
    chosen = (fapi or candidates)[-1:]
    return chosen[0] if chosen else None


def load_exchange_info(path: Path | None, symbols: Collection[str]) -> tuple[dict[str, Any], str]:
    """The exchangeInfo document to serve and where it came from.

    `path` None: the bundled full Binance USDⓈ-M snapshot of 2025-12-24 (bot/data/README.md)
    with `symbols` kept to the exchange ids that have data (`symbols`): the sim lists only what
    it can serve, as a real exchange lists what it trades (and ccxt loads 2 markets, not 660).
    """
    if path is None:
        info = dict(bundled_exchange_info())
        info["symbols"] = [e for e in info["symbols"] if e.get("symbol") in symbols]
        return info, BUNDLED_FULL_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SimDataError(f"{path}: not a readable exchangeInfo JSON ({exc})") from exc
    if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
        raise SimDataError(f"{path}: exchangeInfo without a 'symbols' list")
    return info, path.name
