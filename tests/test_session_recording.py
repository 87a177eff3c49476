"""Recording (DESIGN.md step 2): accepted quotes, closed candles and settled funding land in the
real store through the session's step batch; rejected quotes never do."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.sqlite.store import Store
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.engine import Engine
from bot.engine.ports import EngineState, MarketUpdate, StepBatch
from bot.engine.validation import SnapshotValidator
from bot.runtime.session import Session
from bot.runtime.state_codec import ResumeStateError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def update(at: datetime, btc: float, eth: float) -> MarketUpdate:
    return MarketUpdate(
        at,
        quotes=(
            Quote(BTC, at, btc, mark=btc, funding_rate=0.0001, next_funding_at=T0.replace(hour=8)),
            Quote(ETH, at, eth),
        ),
        candles=(Candle(BTC, "5m", at - timedelta(minutes=5), 1, 2, 0.5, btc, 10),),
        funding=(FundingRate(BTC, T0, 0.0001),) if at == T0 else (),
    )


def test_only_accepted_quotes_are_recorded(store: Store) -> None:
    session = Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live")
    session.process(update(T0, 100.0, 10.0))
    output = session.process(update(T0 + timedelta(seconds=15), 101.0, math.nan))
    assert output.rejected == [(ETH, "nan")]
    ticks = list(store.iter_ticks())
    assert [(t.symbol, t.last) for t in ticks] == [(BTC, 100.0), (ETH, 10.0), (BTC, 101.0)]
    assert ticks[0] == update(T0, 100.0, 10.0).quotes[0]
    assert len(list(store.iter_candles(BTC, "5m"))) == 2
    assert store.funding_rates(BTC) == [FundingRate(BTC, T0, 0.0001)]
    assert store.count("ticks") == 3 and store.count("funding_rates") == 1


def test_recording_twice_is_harmless(store: Store) -> None:
    # A restarted session may be handed the same market data again (an overlapping poll).
    for _ in range(2):
        session = Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live")
        session.process(update(T0, 100.0, 10.0))
    assert store.count("ticks") == 2
    assert store.count("candles") == 1
    assert store.count("funding_rates") == 1


def test_each_commit_stores_the_resume_state_in_the_versioned_envelope(store: Store) -> None:
    session = Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live")
    session.process(update(T0, 100.0, 10.0))

    saved = store.load_state("live")

    assert saved is not None
    envelope = json.loads(saved.text)
    assert (envelope["schema"], envelope["classes"]) == (2, ["bot.domain.values:Quote"])
    assert Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live").resume()


def test_a_state_from_a_newer_ltbot_is_refused_and_left_as_it_is(store: Store) -> None:
    store.write_steps([StepBatch(state=EngineState("live", T0, '{"schema": 9}'))])
    session = Session(store, Engine([], SnapshotValidator([BTC, ETH])), "live")

    with pytest.raises(ResumeStateError, match="schema 9"):
        session.resume()

    saved = store.load_state("live")
    assert saved is not None and saved.text == '{"schema": 9}'
