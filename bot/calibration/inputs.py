"""Read a real token's prices and its underlying perp's candles and funding (the only I/O here).

Token files: the CSV layout of data/leveraged_tokens (`Date` = the kline's open time, naive
UTC; `Close`), or a freqtrade / ccxt OHLCV file (feather or CSV; `date` or `timestamp` = open
time, ISO text or epoch ms; `close`). Perp data: a freqtrade data directory (searched
recursively) holding `<PAIR>-<tf>-mark` (else `-futures`) candles and `-funding_rate` files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.adapters.replay import feather

_DAY = pd.Timedelta(days=1)
_ZERO = pd.Timedelta(0)


class InputError(ValueError):
    """A file or argument the calibration cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Market:
    """The underlying perp: OHLC candles (USDT, indexed by UTC open time) and funding.

    `funding`: settled rates (fraction per interval, > 0 = longs pay) by settlement time, or
    None when the directory has none. `kind`: "mark" or "futures" (last-trade candles).
    """

    candles: pd.DataFrame
    funding: pd.Series | None
    bar: pd.Timedelta
    kind: str


def read_token(path: Path) -> tuple[pd.Series, pd.Timedelta]:
    """Return a token's closes indexed by UTC close time (open + bar) and its bar length."""
    if not path.is_file():
        raise InputError(f"--token {path}: no such file")
    try:
        if path.suffix == ".csv":
            raw = pd.read_csv(path)
            if "Date" in raw.columns and "Close" in raw.columns:
                raw = raw.rename(columns=str.lower)
        elif path.suffix == ".feather":
            raw = pd.read_feather(path)
        else:
            raise InputError(f"--token {path}: expected a .csv or .feather file")
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--token {path}: cannot read ({exc})") from None
    return _token_closes(raw.rename(columns={"timestamp": "date"}), f"--token {path}")


def _token_closes(raw: pd.DataFrame, what: str) -> tuple[pd.Series, pd.Timedelta]:
    if "date" not in raw.columns or "close" not in raw.columns:
        raise InputError(f"{what}: needs a Date/date column and a Close/close column")
    frame = raw[["date", "close"]].assign(open=0.0, high=0.0, low=0.0, volume=0.0)
    try:
        frame = feather.normalise(frame[feather.COLUMNS], what)
    except feather.DataFormatError as exc:
        raise InputError(str(exc)) from None
    closes = frame.set_index("date")["close"].dropna()
    if len(closes) < 3:
        raise InputError(f"{what}: fewer than 3 prices")
    if not (closes > 0).all():
        raise InputError(f"{what}: prices must be > 0")
    bar = pd.Series(closes.index).diff().mode().iloc[0]
    if bar > _DAY or _DAY % bar != pd.Timedelta(0):
        raise InputError(f"{what}: bars of {bar} do not divide a day")
    closes.index = closes.index.astype("datetime64[ns, UTC]") + bar
    return closes.astype(float), bar


def read_market(data: Path, symbol: str, timeframe: str) -> Market:
    """Return `symbol`'s perp candles resampled to `timeframe`, and its funding, from `data`."""
    bar = _length(timeframe)
    if bar is None:
        raise InputError(f"--timeframe: expected e.g. 1h or 4h, got {timeframe!r}")
    if bar > _DAY or _DAY % bar != _ZERO:
        raise InputError(f"--timeframe {timeframe}: must divide a day")
    try:
        files = feather.scan_data_dir(data)
    except feather.DataFormatError as exc:
        raise InputError(f"--data: {exc}") from None
    mine = [f for f in files if f.symbol == symbol]
    if not mine:
        known = sorted({f.symbol for f in files if f.candle_type in ("mark", "futures")})
        raise InputError(f"--symbol {symbol}: no data in {data} (found: {', '.join(known)})")
    candles, kind = _finest_candles(mine, bar, symbol)
    rates = [f for f in mine if f.candle_type == "funding_rate"]
    funding = None
    if rates:
        frame = feather.round_funding_dates(_read(rates[0].path))
        funding = frame.set_index("date")["open"].astype(float)
        funding.index = funding.index.astype("datetime64[ns, UTC]")
    return Market(candles, funding, bar, kind)


def _finest_candles(
    files: list[feather.DataFile], bar: pd.Timedelta, symbol: str
) -> tuple[pd.DataFrame, str]:
    for kind in ("mark", "futures"):
        lengths = {f: _length(f.timeframe) for f in files if f.candle_type == kind}
        usable = [f for f, length in lengths.items() if length and bar % length == _ZERO]
        if usable:
            source = min(usable, key=lambda f: lengths[f] or _DAY)
            frame = _read(source.path).set_index("date")[["open", "high", "low", "close"]]
            frame.index = frame.index.astype("datetime64[ns, UTC]")
            return resample(frame, bar), kind
    minutes = int(bar.total_seconds() // 60)
    raise InputError(
        f"--symbol {symbol}: no mark or futures candles that divide --timeframe ({minutes} min)"
    )


def _length(timeframe: str) -> pd.Timedelta | None:
    """Return the length of a freqtrade timeframe (1m, 4h, 1d, 1w), None for months or junk."""
    match = re.fullmatch(r"(\d+)([mhdw])", timeframe.strip())
    if match is None or int(match[1]) == 0:
        return None
    minutes = {"m": 1, "h": 60, "d": 1440, "w": 10080}[match[2]]
    return pd.Timedelta(minutes=int(match[1]) * minutes)


def _read(path: Path) -> pd.DataFrame:
    try:
        return feather.read_frame(path)
    except feather.DataFormatError as exc:
        raise InputError(str(exc)) from None


def resample(candles: pd.DataFrame, bar: pd.Timedelta) -> pd.DataFrame:
    """Return OHLC candles of length `bar` (open-time labels aligned on UTC midnight)."""
    rules = {"open": "first", "high": "max", "low": "min", "close": "last"}
    out = candles.resample(bar, label="left", closed="left", origin="epoch").agg(rules)
    return out.dropna()
