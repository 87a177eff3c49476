"""Regenerate the bundled data sample in bot/data/sample/ from ../shared/data.

A thin script: it cuts a window out of the shared recorded files and writes them in freqtrade
feather layout (zstd-compressed). Provenance is documented in bot/data/README.md.

    .venv/bin/python scripts/make_sample.py [--shared ../shared/data] [--out bot/data/sample]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
START = pd.Timestamp("2024-03-01", tz="UTC")
END = pd.Timestamp("2024-04-15", tz="UTC")  # exclusive: 45 days
PAIRS = ["BTC_USDT_USDT", "ETH_USDT_USDT"]
FIVE_MIN_DIR = "binance_usdm/5m/2023-01_2024-05"
HOUR_DIR = "binance_usdm/1h"
EXCHANGE_INFO = "exchange_info/binance_fapi_exchangeInfo_2025-12-24.BTC_ETH_only.json"


def cut(path: Path, round_to_hour: bool = False) -> pd.DataFrame:
    """Rows of one freqtrade feather file with START <= date < END, date as ms UTC.

    Funding files (`round_to_hour`) keep the settlement at END too, so the rate of the next
    settlement is recorded for every instant of the window.
    """
    frame = pd.read_feather(path)
    dates = pd.to_datetime(frame["date"], utc=True)
    if round_to_hour:
        # Binance fundingTime carries millisecond jitter (08:00:00.008): settlements are on the hour
        dates = dates.dt.round("1h")
    frame["date"] = dates.astype("datetime64[ms, UTC]")
    before_end = frame["date"] <= END if round_to_hour else frame["date"] < END
    frame = frame[(frame["date"] >= START) & before_end]
    return frame.drop_duplicates("date").sort_values("date").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "bot" / "data" / "sample")
    args = parser.parse_args()
    shared: Path = args.shared
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for pair in PAIRS:
        jobs += [
            (shared / FIVE_MIN_DIR / f"{pair}-5m-futures.feather", f"{pair}-5m-futures", False),
            (shared / HOUR_DIR / f"{pair}-1h-mark.feather", f"{pair}-1h-mark", False),
            (
                shared / HOUR_DIR / f"{pair}-1h-funding_rate.feather",
                f"{pair}-8h-funding_rate",
                True,
            ),
        ]
    for source, name, round_to_hour in jobs:
        frame = cut(source, round_to_hour)
        target = out / f"{name}.feather"
        frame.to_feather(target, compression="zstd")
        first, last = frame["date"].iloc[0], frame["date"].iloc[-1]
        print(f"{target.name}: {len(frame)} rows, {first} .. {last}")
    info_target = REPO / "bot" / "data" / "exchange_info_btc_eth.json"
    shutil.copyfile(shared / EXCHANGE_INFO, info_target)
    print(f"{info_target.name}: copied from {EXCHANGE_INFO}")


if __name__ == "__main__":
    main()
