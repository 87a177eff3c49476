"""Ports: what the engine and the daemon need from a clock, a market-data feed and a ledger.

`CcxtFeed` (live, through ccxt) satisfies `Feed`; a replay iterates the `MarketUpdate`s of a
`ReplayFeed` instead (it can `poll` too, but has no cursors, markets or server clock). The
SQLite store (bot/adapters/sqlite) satisfies `Ledger`; tests can pass any object with the same
shape. Nothing here says how.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.domain.records import (
    DeathRecord,
    FeeRecord,
    FillRecord,
    NavRecord,
    PositionRecord,
    RefusalRecord,
    TokenEventRecord,
)
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Candle, FundingRate, Quote, Side


class Clock(Protocol):
    """A source of "now" (UTC-aware) that can also wait."""

    def now(self) -> datetime:
        """The current time of this clock (UTC-aware)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock (a fake or replay clock just advances)."""
        ...


class FeedError(RuntimeError):
    """A poll could not be completed (after retries); the caller skips this poll and goes on."""


@dataclass(slots=True)
class MarketUpdate:
    """Everything new from the market at step time `at` (UTC).

    quotes: at most one per symbol, not yet validated; `Quote.at` is the exchange's timestamp
        for the price (falling back to `at` when the exchange gives none).
    candles: newly closed candles, any (symbol, timeframe), in time order per series; a candle's
        `at` is its open time, so it closed at `at + timeframe`.
    funding: newly settled funding rates (`FundingRate.at` = settlement time, on the hour).
    mark_bars: mark-price candles of the same bars as some `candles` (same symbol, timeframe
        and open time; replays of data with mark klines): the mark's path inside a walked bar.
        Not recorded in the ledger.
    """

    at: datetime
    quotes: Sequence[Quote] = field(default_factory=tuple)
    candles: Sequence[Candle] = field(default_factory=tuple)
    funding: Sequence[FundingRate] = field(default_factory=tuple)
    mark_bars: Sequence[Candle] = field(default_factory=tuple)


class Feed(Protocol):
    """A live source of market updates, as the daemon and the candle screen use it.

    The feed keeps a cursor per (symbol, timeframe) series: the open time of the next candle
    it fetches. The resume calls set those cursors (and the funding and poll bookmarks) from
    the ledger after a restart, so the first polls fetch what an uninterrupted run would have.
    """

    @property
    def symbols(self) -> Sequence[str]:
        """The polled symbols (unified, e.g. `BTC/USDT:USDT`), in poll order."""
        ...

    @property
    def timeframes(self) -> Sequence[str]:
        """The candle timeframes fetched for every symbol, finest first."""
        ...

    @property
    def markets(self) -> Mapping[str, Mapping[str, Any]]:
        """The exchange's market descriptions by symbol (ccxt's unified shape), once connected."""
        ...

    def poll(self, at: datetime) -> MarketUpdate:
        """Everything new up to step time `at`; raises FeedError when the poll must be skipped."""
        ...

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime, limit: int, price: str | None = None
    ) -> list[Candle]:
        """Up to `limit` candles opening at or after `since` (`price` "mark": mark klines);
        raises FeedError when they cannot be had."""
        ...

    def funding_caps(self) -> Mapping[str, float]:
        """The exchange's funding-rate cap per symbol (|rate| per settlement, a fraction), for
        the symbols it lists one for; empty when it publishes none or cannot be asked."""
        ...

    def server_time(self) -> datetime:
        """The exchange's own clock (UTC); raises FeedError when it cannot be had."""
        ...

    def resume_after(self, last_poll: datetime) -> None:
        """Set the time of the last step before a restart."""
        ...

    def resume_funding(self, symbol: str, next_funding_at: datetime) -> None:
        """Continue from the next funding settlement known before a restart."""
        ...

    def resume_candles(self, symbol: str, timeframe: str, last_open: datetime) -> None:
        """Continue a series after the candle that opened at `last_open`."""
        ...

    def start_candles(self, symbol: str, timeframe: str, first_poll: datetime) -> None:
        """Start a series as a poll at `first_poll` would have."""
        ...

    def summary(self) -> str:
        """One line of counters for the end of a run."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...


@dataclass(frozen=True, slots=True)
class VehicleParams:
    """A portfolio's effective vehicle parameters, fixed when the portfolio is created.

    kind: token, perp, perp_static or spot.
    tokens: for a token vehicle, the full spec of each token its preset has (one side for a
        fixed-direction family), after `[presets.<name>]` overrides and the vehicle string's.
    params: for the other kinds, every parameter after defaults (as in bot/domain/perp.py and
        bot/domain/spot.py: fractions, basis points, leverage multiples).
    """

    kind: str
    tokens: Mapping[Side, TokenSpec] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form; a token's side is written as its label ("long"/"short")."""
        tokens = {
            side.label: {**dataclasses.asdict(spec), "side": side.label}
            for side, spec in self.tokens.items()
        }
        return {"kind": self.kind, "tokens": tokens, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VehicleParams:
        """Rebuild from `to_dict` output (JSON lists stay lists in `params`)."""
        tokens = {}
        for fields in data.get("tokens", {}).values():
            side = Side.LONG if fields["side"] == "long" else Side.SHORT
            tokens[side] = TokenSpec(**{**fields, "side": side})
        return cls(str(data["kind"]), tokens, dict(data.get("params", {})))


@dataclass(frozen=True, slots=True)
class PortfolioRow:
    """One row of `portfolios`; `id` is stable across restarts (experiment/vehicle).

    `vehicle_params` is stored once, when the portfolio is first registered (None: not stored).
    """

    id: str
    experiment: str
    vehicle: str
    strategy: str
    symbol: str
    capital: float
    params: Mapping[str, Any] = field(default_factory=dict)
    vehicle_params: VehicleParams | None = None


@dataclass(frozen=True, slots=True)
class EngineState:
    """The engine's resume state after a step (`text` is JSON from bot.runtime.state_codec)."""

    key: str
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class PortfolioStep:
    """What one step did to one portfolio: new ledger records and position upserts."""

    portfolio_id: str
    fills: Sequence[FillRecord] = ()
    fees: Sequence[FeeRecord] = ()
    token_events: Sequence[TokenEventRecord] = ()
    positions: Sequence[PositionRecord] = ()
    nav: Sequence[NavRecord] = ()
    refusals: Sequence[RefusalRecord] = ()
    death: DeathRecord | None = None


@dataclass(frozen=True, slots=True)
class StepBatch:
    """Everything one engine step writes, in one transaction."""

    quotes: Sequence[Quote] = ()
    candles: Sequence[Candle] = ()
    funding_rates: Sequence[FundingRate] = ()
    portfolios: Sequence[PortfolioStep] = ()
    state: EngineState | None = None
    # The step's time (the session sets it), stored as the `received_at` of the batch's
    # candles and funding rates; None (market data written outside a step) stores NULL, and
    # a replay hands such rows to the first step at or after their close time.
    at: datetime | None = None


class Ledger(Protocol):
    """Where a session writes its steps and finds the state to resume from."""

    def write_steps(self, batches: Sequence[StepBatch]) -> None:
        """Write the steps in one transaction: all of them or, on any error, none."""
        ...

    def load_state(self, key: str) -> EngineState | None:
        """The engine state saved under `key` by the last committed step, if any."""
        ...
