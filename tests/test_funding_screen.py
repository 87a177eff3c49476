"""Funding rates beyond the cap never become money (issue 15 point 1): the screen drops a
settled rate and blanks a predicted one, counts them, and logs once per streak; a replay of a
data file holding a -50 % settlement books no funding at that settlement."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from loguru import logger

from bot.domain.values import FundingRate, Quote
from bot.engine.candle_screen import CandleScreen
from bot.engine.funding_screen import DEFAULT_FUNDING_CAP, FundingScreen
from bot.engine.ports import MarketUpdate
from tests.conftest import REPO_ROOT

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)


def quote(symbol: str, rate: float | None) -> Quote:
    return Quote(symbol, T0, 100.0, 100.0, funding_rate=rate, next_funding_at=T0)


@pytest.fixture
def log() -> list[str]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['message']}"))
    yield lines
    logger.remove(sink)


def test_rates_beyond_the_cap_are_dropped_or_blanked_and_logged_once(log: list[str]) -> None:
    screen = FundingScreen({ETH: 0.02})
    assert DEFAULT_FUNDING_CAP == 0.03 and screen.cap(BTC) == 0.03 and screen.cap(ETH) == 0.02
    bad = MarketUpdate(
        T0,
        (quote(BTC, 0.5), quote(ETH, 0.0001)),
        (),
        (FundingRate(BTC, T0, -0.5), FundingRate(ETH, T0, 0.0201), FundingRate(ETH, T0, 0.02)),
    )
    out = screen.screen(bad)
    assert out.funding == (FundingRate(ETH, T0, 0.02),)  # at the cap: kept
    assert [q.funding_rate for q in out.quotes] == [None, 0.0001]
    assert out.quotes[0].last == 100.0  # the prices go on
    assert screen.counts == {BTC: 2, ETH: 1}
    screen.screen(bad)  # the same streak: no new line
    nan = MarketUpdate(T0, (), (), (FundingRate(BTC, T0, float("nan")),))
    assert screen.screen(nan).funding == ()
    assert [line.split(" refused")[0] for line in log] == [
        "WARNING BTC/USDT:USDT funding rate 0.5",
        "WARNING ETH/USDT:USDT funding rate 0.0201",
    ]
    fine = MarketUpdate(T0, (quote(BTC, 0.0001),), (), ())
    assert screen.screen(fine) is fine
    assert log[-1] == "INFO BTC/USDT:USDT funding rates plausible again"


def test_the_candle_screen_runs_the_funding_screen_first() -> None:
    update = MarketUpdate(T0, (quote(BTC, 0.2),), (), (FundingRate(BTC, T0, 0.2),))
    out = CandleScreen(None).screen(update, {})
    assert out.funding == () and out.quotes[0].funding_rate is None


def test_a_replay_never_books_a_settlement_beyond_the_cap(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO_ROOT / "bot" / "data" / "sample", data)
    path = data / "BTC_USDT_USDT-8h-funding_rate.feather"
    frame = pd.read_feather(path)
    frame.loc[3, "open"] = -0.5  # 2024-03-02 00:00: -50 %
    frame.to_feather(path)
    db = tmp_path / "replay.db"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--data", str(data), "--config",
         str(REPO_ROOT / "config.example.toml"), "--db", str(db), "--to", "2024-03-03"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "BTC/USDT:USDT funding rate -0.5 refused: beyond the cap of 0.03" in done.stderr
    # the replay's summary counts them (the settled rate and each quote's prediction of it)
    [screened] = [line for line in done.stdout.splitlines() if line.startswith("screened:")]
    assert screened.startswith("screened: funding BTC/USDT:USDT ") and "ETH" not in screened
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT f.at, f.amount, n.exposure FROM fees f JOIN nav n "
            "ON n.portfolio_id = f.portfolio_id AND n.at = (SELECT MAX(at) FROM nav WHERE "
            "portfolio_id = f.portfolio_id AND at < f.at) "
            "WHERE f.kind = 'funding' AND f.portfolio_id LIKE 'btc-%' AND f.portfolio_id "
            "LIKE '%perp%'"
        ).fetchall()
    times = {at for at, _, _ in rows}
    assert "2024-03-01T16:00:00.000Z" in times and "2024-03-02T00:00:00.000Z" not in times
    assert all(abs(amount) <= 0.03 * abs(exposure) * 1.5 for _, amount, exposure in rows)


def test_funding_caps_come_from_binance_fundinginfo() -> None:
    from bot.adapters.ccxt.parse import build_funding_caps

    rows = [
        {
            "symbol": "BTCUSDT",
            "adjustedFundingRateCap": "0.02",
            "adjustedFundingRateFloor": "-0.02",
        },
        {
            "symbol": "ETHUSDT",
            "adjustedFundingRateCap": "0.003",
            "adjustedFundingRateFloor": "-0.004",
        },
        {"symbol": "XRPUSDT", "adjustedFundingRateCap": "0.03"},  # not polled
        {"symbol": "SOLUSDT", "adjustedFundingRateCap": "nan"},
        "garbage",
    ]
    ids = {"BTCUSDT": BTC, "ETHUSDT": ETH, "SOLUSDT": "SOL/USDT:USDT"}
    assert build_funding_caps(rows, ids) == {BTC: 0.02, ETH: 0.004}
    assert build_funding_caps({"code": -1}, ids) == {}
    assert build_funding_caps("", ids) == {}


def test_the_live_feed_reads_the_caps_the_sim_serves_through_real_ccxt() -> None:
    from bot.adapters.ccxt.feed import CcxtFeed
    from bot.adapters.sim.exchange import SimExchange
    from bot.runtime.clock import FakeClock

    with SimExchange(None, speed=0) as sim:
        feed = CcxtFeed([BTC, ETH], api_url=sim.url, rate_limit=False, clock=FakeClock(T0))
        feed.connect()
        caps = feed.funding_caps()
        feed.close()
    assert caps == {BTC: 0.02, ETH: 0.02}  # the sim's fundingInfo: +-2 % for every symbol
    # a 2.5 % rate passes the 3 % default cap but not the symbol's own 2 %
    update = MarketUpdate(T0, (), (), (FundingRate(BTC, T0, 0.025),))
    assert FundingScreen().screen(update).funding == (FundingRate(BTC, T0, 0.025),)
    assert FundingScreen(caps).screen(update).funding == ()
    assert DEFAULT_FUNDING_CAP == 0.03
