"""The store's fast write path: memoised time text and the replay's scratch mode write the same
rows as the plain path, and a failing step still writes nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.sqlite.queries import TABLES
from bot.adapters.sqlite.store import Store
from bot.adapters.sqlite.timefmt import format_time
from bot.adapters.sqlite.writer import _TimeText
from bot.domain.records import NavRecord
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.ports import PortfolioRow, PortfolioStep, StepBatch

T0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
BTC = "BTC/USDT:USDT"


def test_time_text_is_format_time_also_after_the_memo_is_emptied() -> None:
    times = [
        T0,
        T0 + timedelta(microseconds=999_999),  # truncated, not rounded: .999
        T0 + timedelta(milliseconds=5),
        T0.astimezone(timezone(timedelta(hours=2))),  # the same instant as T0, another zone
        datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")),
        datetime(999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2100, 2, 28, 12, tzinfo=UTC),
    ]
    memo = _TimeText(limit=2)  # emptied several times below
    for at in times * 3:
        assert memo(at) == format_time(at)
    assert memo(T0 + timedelta(microseconds=999_999)) == "2024-01-01T08:00:00.999Z"


def _replay_like_batches(steps: int) -> list[StepBatch]:
    # As a replay writes them: the candle opens at the previous step's quote time, the funding
    # settlement repeats for 8 hours, settled rates at the settlement.
    batches = []
    for i in range(1, steps + 1):
        at = T0 + timedelta(minutes=5 * i)
        settle = T0 + timedelta(hours=8 * (1 + (5 * i) // 480))
        quote = Quote(BTC, at, 100.0 + i, 100.5 + i, None, None, None, 1e-4, settle)
        candle = Candle(BTC, "5m", at - timedelta(minutes=5), 1.0, 2.0, 0.5, 1.5, float(i))
        funding = (FundingRate(BTC, at, 1e-4),) if (5 * i) % 480 == 0 else ()
        nav = NavRecord(at, 1e4 + i, 1e4, 0.0, 0.0, 100.0 + i)
        batches.append(StepBatch((quote,), (candle,), funding, (PortfolioStep("p", nav=[nav]),)))
    return batches


def _ledger(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}  # noqa: S608


def _write(path: Path, groups: list[list[StepBatch]], scratch: bool) -> None:
    with Store(path) as store:
        if scratch:
            store.use_scratch_mode()
        store.upsert_portfolios([PortfolioRow("p", "e", "spot", "hold", BTC, 1e4)])
        for group in groups:
            store.write_steps(group)


def test_grouped_scratch_writes_equal_one_step_at_a_time(tmp_path: Path) -> None:
    batches = _replay_like_batches(300)  # 25 hours: three settlements, memo reused across calls
    _write(tmp_path / "plain.db", [[b] for b in batches], scratch=False)
    _write(tmp_path / "fast.db", [batches[i : i + 64] for i in range(0, 300, 64)], scratch=True)
    plain, fast = _ledger(tmp_path / "plain.db"), _ledger(tmp_path / "fast.db")
    assert fast == plain
    counts = [len(plain[t]) for t in ("ticks", "candles", "funding_rates", "nav")]
    assert counts == [300, 300, 3, 300]
    first = plain["ticks"][0]
    assert (first[0], first[-1]) == ("2024-01-01T08:05:00.000Z", "2024-01-01T16:00:00.000Z")
    assert plain["candles"][0][2] == "2024-01-01T08:00:00.000Z"


def test_scratch_mode_keeps_a_failing_step_all_or_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "replay.db") as store:
        store.use_scratch_mode()
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 0
        store.upsert_portfolios([PortfolioRow("p", "e", "spot", "hold", BTC, 1e4)])
        good = _replay_like_batches(2)
        bad = PortfolioStep("no-such-portfolio", nav=[NavRecord(T0, 1.0, 1.0, 0.0, 0.0, 1.0)])
        with pytest.raises(sqlite3.IntegrityError):  # foreign key: unknown portfolio
            store.write_steps([*good, StepBatch(portfolios=[bad])])
        assert (store.count("ticks"), store.count("candles"), store.count("nav")) == (0, 0, 0)


def test_tick_times_in_any_zone_are_stored_as_utc_text_and_naive_ones_fail(store: Store) -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))  # the same instant as T0, memoised in UTC
    store.write_steps(
        [StepBatch(quotes=[Quote(BTC, T0, 1.0), Quote("ETH/USDT:USDT", berlin, 2.0)])]
    )
    assert [r["at"] for r in store.rows("ticks")] == ["2024-01-01T08:00:00.000Z"] * 2
    with pytest.raises(ValueError, match="naive datetime"):
        store.write_steps([StepBatch(quotes=[Quote(BTC, T0.replace(tzinfo=None), 1.0)])])
    assert store.count("ticks") == 2
