"""Engine-level properties (hypothesis): random price paths and random signals through
`bot.engine.engine.Engine`, built by the composition root with real runners for every vehicle kind.

- NAV >= 0 at every snapshot of every vehicle, with gaps to 35 % and funding to 3 % a
  settlement; perps keep their money inside their isolated margin (scripts/audit_margin.py);
- the accounting invariant, per vehicle, to the cent (tests/e2e/harness.accounting_errors);
- funding symmetry: a long and a short perp of the same size pay and receive the same amount
  at the same settlement;
- replay determinism: the same updates twice give identical records.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.domain.values import Candle, Quote
from bot.engine.engine import Engine
from bot.engine.ports import MarketUpdate
from bot.runtime.session import Session
from bot.runtime.wiring import build_engine, portfolio_rows
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams
from scripts.audit_margin import audit
from tests.e2e.harness import accounting_errors
from tests.hypothesis_profiles import examples

BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TOKENS = ["token:binance_blvt", "token:ftx", "token:bybit", "token:ideal_daily", "token:gate_5x"]
PERPS = ["perp:risk_pct=0.02", "perp:risk_pct=0.05", "perp_static:leverage=3", "spot"]
TWIN = "perp_static:leverage=3,slippage_bps=0"


class ScriptParams(StrategyParams):
    """script: one entry per bar, "long:0.05", "short:0.02", "flat" or "none"."""

    script: tuple[str, ...] = ()


class Scripted(Strategy[ScriptParams]):
    """Plays a list of signals, one per closed bar (cycling)."""

    name = "scripted"
    timeframe = "1h"
    Params = ScriptParams

    def on_bar(self, history: HistoryView) -> Signal | None:
        script = self.params.script
        if not script:
            return None
        entry = script[(len(history) - 1) % len(script)]
        if entry == "none":
            return None
        if entry == "flat":
            return Signal.flat()
        side, distance = entry.split(":")
        close = history.close[-1]
        if side == "long":
            return Signal(Direction.LONG, stop=close * (1 - float(distance)))
        return Signal(Direction.SHORT, stop=close * (1 + float(distance)))


def make_settings(script: tuple[str, ...], db: Path) -> Settings:
    experiments: list[dict[str, Any]] = [
        {
            "name": "random",
            "symbol": BTC,
            "strategy": f"{__name__}:Scripted",
            "params": {"script": list(script)},
            "capital": 10_000,
            "vehicles": TOKENS + PERPS,
        },
        {
            "name": "long",
            "symbol": BTC,
            "strategy": "hold",
            "params": {"direction": "long", "stop_pct": 0.5},
            "vehicles": [TWIN],
        },
        {
            "name": "short",
            "symbol": BTC,
            "strategy": "hold",
            "params": {"direction": "short", "stop_pct": 0.5},
            "vehicles": [TWIN],
        },
    ]
    return Settings(
        exchange={"symbols": [BTC], "max_jump_pct": 50.0},  # type: ignore[arg-type]
        store={"path": db},  # type: ignore[arg-type]
        experiments=experiments,  # type: ignore[arg-type]
    )


def updates(returns: list[float], rates: list[float]) -> list[MarketUpdate]:
    """Hourly steps: a quote (with the predicted funding rate) and the bar that just closed."""
    out, price = [], 60_000.0
    for i, r in enumerate(returns):
        at = T0 + HOUR * i
        nxt = price * (1 + r)
        # next settlement: the next 8-hour boundary after `at`
        settle = T0 + timedelta(hours=8 * (i // 8 + 1))
        quote = Quote(BTC, at, nxt, mark=nxt, funding_rate=rates[i // 8], next_funding_at=settle)
        bars = []
        if i > 0:
            hi, lo = max(price, nxt) * 1.002, min(price, nxt) * 0.998
            bars.append(Candle(BTC, "1h", at - HOUR, price, hi, lo, nxt, 1.0))
        out.append(MarketUpdate(at, (quote,), tuple(bars), ()))
        price = nxt
    return out


def drive(engine: Engine, steps: list[MarketUpdate]) -> list[str]:
    return [repr(engine.step(update).portfolios) for update in steps]


returns_st = st.lists(
    st.floats(min_value=-0.12, max_value=0.12, allow_nan=False)
    | st.sampled_from([-0.35, -0.25, 0.25, 0.35]),  # gaps through liquidation prices
    min_size=10,
    max_size=40,
)
rates_st = st.lists(
    st.floats(min_value=-0.03, max_value=0.03, allow_nan=False), min_size=5, max_size=5
)
script_st = st.lists(
    st.sampled_from(["long:0.02", "long:0.08", "short:0.03", "short:0.1", "flat", "none"]),
    min_size=1,
    max_size=8,
)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns=returns_st, rates=rates_st, script=script_st)
def test_random_paths_and_signals_keep_every_vehicle_accountable(
    returns: list[float], rates: list[float], script: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        config = make_settings(tuple(script), db)
        engine = build_engine(config, live=False)
        steps = updates(returns, rates)
        with Store(db) as store:
            store.upsert_portfolios(portfolio_rows(config))
            session = Session(store, engine, "prop")
            navs: dict[str, list[float]] = {}
            for update in steps:
                for pid, (_, snapshots) in session.process(update).portfolios.items():
                    navs.setdefault(pid, []).extend(n.nav for n in snapshots)

        # NAV >= 0 at every snapshot, every vehicle (perps: isolated margin)
        assert all(nav >= -1e-9 for values in navs.values() for nav in values)
        # the accounting invariant for every portfolio, to the cent
        assert accounting_errors(db) == {}
        # no perp position lost more than its margin + fees; margins never NULL
        assert audit(db) == []
        # replay determinism: the same updates through a fresh engine give the same records
        first = drive(build_engine(config, live=False), steps)
        second = drive(build_engine(config, live=False), steps)
        assert first == second


@settings(max_examples=examples(15), deadline=None)
@given(rates=rates_st, returns=st.lists(st.floats(-0.02, 0.02), min_size=25, max_size=25))
def test_funding_is_symmetric_between_a_long_and_a_short_of_the_same_size(
    rates: list[float], returns: list[float]
) -> None:
    config = make_settings(("none",), Path(tempfile.gettempdir()) / "unused.db")
    engine = build_engine(config, live=False)
    long_pid, short_pid = f"long/{TWIN}", f"short/{TWIN}"
    fees: dict[str, dict[datetime, float]] = {long_pid: {}, short_pid: {}}
    qty: dict[str, set[float]] = {long_pid: set(), short_pid: set()}
    for update in updates(returns, rates):
        for pid, (records, _) in engine.step(update).portfolios.items():
            if pid in fees:
                fees[pid].update({f.at: f.amount for f in records.fees if f.kind == "funding"})
                qty[pid].update(f.qty for f in records.fills)
    # both entered once, at the same price with the same capital and leverage: the same size
    assert qty[long_pid] == qty[short_pid] and len(qty[long_pid]) == 1
    assert fees[long_pid].keys() == fees[short_pid].keys() and len(fees[long_pid]) >= 2
    for at, amount in fees[long_pid].items():
        assert amount == -fees[short_pid][at]
        assert (amount > 0) == (rates[(at - T0) // timedelta(hours=8) - 1] > 0) or amount == 0
