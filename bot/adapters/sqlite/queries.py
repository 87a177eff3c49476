"""The ledger's read side: recorded market data (replay, resume), what a report reads, the
end-of-run comparison table and `ltbot status`.

Rows come back as plain dicts or domain values; every statement uses bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.adapters.sqlite.timefmt import format_time, parse_time
from bot.domain.values import Candle, FundingRate, Quote
from bot.engine.ports import VehicleParams

# The tables of the DESIGN.md database contract.
TABLES = (
    "runs",
    "ticks",
    "candles",
    "funding_rates",
    "portfolios",
    "fills",
    "fees",
    "nav",
    "token_events",
    "positions",
)
# What `rows` and `count` may read: the contract tables plus the report's own.
READABLE = (*TABLES, "report_metrics", "vehicle_params", "entry_refusals", "portfolio_deaths")


class LedgerQueries:
    """Every read of the ledger database `db`."""

    db: Database

    def rows(
        self,
        table: str,
        where: str | None = None,
        params: Sequence[Any] = (),
        order_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of a ledger table as dicts (for reports and tests); `table` must be known."""
        if table not in READABLE:
            raise ValueError(f"unknown table {table!r}")
        return list(self.db[table].rows_where(where, list(params), order_by=order_by))

    def count(self, table: str) -> int:
        """Number of rows in a ledger table."""
        if table not in READABLE:
            raise ValueError(f"unknown table {table!r}")
        return int(self.db[table].count)

    # -- market data ---------------------------------------------------------------------

    def iter_ticks(
        self,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[Quote]:
        """Recorded quotes in time order (then symbol), optionally filtered; `end` inclusive."""
        where, params = _time_filter(start, end)
        if symbols is not None:
            where.append(f"symbol IN ({', '.join('?' for _ in symbols)})")
            params.extend(symbols)
        sql = "SELECT * FROM ticks" + _where(where) + " ORDER BY at, symbol"
        for row in self.db.query(sql, params):
            yield _quote_from_row(row)

    def tick_span(
        self,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[datetime, datetime] | None:
        """First and last recorded quote time within the same filters as `iter_ticks`."""
        sql = (
            "SELECT MIN(at) AS lo, MAX(at) AS hi FROM ticks WHERE (? IS NULL OR at >= ?) "
            "AND (? IS NULL OR at <= ?) "
            "AND (? IS NULL OR symbol IN (SELECT value FROM json_each(?)))"
        )
        lo, hi = _optional_time(start), _optional_time(end)
        chosen = None if symbols is None else json.dumps(list(symbols))
        row = next(iter(self.db.query(sql, [lo, lo, hi, hi, chosen, chosen])))
        return None if row["lo"] is None else (parse_time(row["lo"]), parse_time(row["hi"]))

    def iter_candles(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[Candle]:
        """Recorded candles of one symbol and timeframe in time order."""
        where, params = _time_filter(start, end)
        where[:0] = ["symbol = ?", "timeframe = ?"]
        params[:0] = [symbol, timeframe]
        for row in self.db.query("SELECT * FROM candles" + _where(where) + " ORDER BY at", params):
            yield Candle(
                symbol=row["symbol"],
                timeframe=row["timeframe"],
                at=parse_time(row["at"]),
                open=row["open"],
                high=row["high"],
                low=row["low"],
                close=row["close"],
                volume=row["volume"],
            )

    def last_candle_at(self, symbol: str, timeframe: str) -> datetime | None:
        """Open time of the latest recorded candle of a series, if any."""
        rows = list(
            self.db.query(
                "SELECT MAX(at) AS at FROM candles WHERE symbol = ? AND timeframe = ?",
                [symbol, timeframe],
            )
        )
        return None if rows[0]["at"] is None else parse_time(rows[0]["at"])

    def funding_rates(
        self, symbol: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[FundingRate]:
        """Recorded settled funding rates of one symbol in time order."""
        where, params = _time_filter(start, end)
        where.insert(0, "symbol = ?")
        params.insert(0, symbol)
        sql = "SELECT * FROM funding_rates" + _where(where) + " ORDER BY at"
        return [
            FundingRate(symbol=r["symbol"], at=parse_time(r["at"]), rate=r["rate"])
            for r in self.db.query(sql, params)
        ]

    # -- portfolios and reports ----------------------------------------------------------

    def portfolio_summaries(self) -> list[dict[str, Any]]:
        """Per portfolio: definition, latest NAV row, fee totals by kind, fill counts by reason
        and token event counts (for end-of-run comparison tables)."""
        sql = """
        SELECT p.id, p.experiment, p.vehicle, p.symbol, p.capital,
          (SELECT nav FROM nav WHERE portfolio_id = p.id ORDER BY at DESC LIMIT 1) AS nav,
          (SELECT leverage FROM nav WHERE portfolio_id = p.id ORDER BY at DESC LIMIT 1)
            AS leverage,
          (SELECT COALESCE(SUM(amount), 0) FROM fees WHERE portfolio_id = p.id
             AND kind != 'funding') AS fees,
          (SELECT COALESCE(SUM(amount), 0) FROM fees WHERE portfolio_id = p.id
             AND kind = 'funding') AS funding,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id) AS fills,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id AND reason = 'stop') AS stops,
          (SELECT COUNT(*) FROM fills WHERE portfolio_id = p.id AND reason = 'liquidation')
            AS liquidations,
          (SELECT COUNT(*) FROM token_events WHERE portfolio_id = p.id AND kind = 'rebalance')
            AS rebalances
        FROM portfolios p ORDER BY p.experiment, p.id
        """
        return [dict(row) for row in self.db.query(sql)]

    def vehicle_params(self) -> dict[str, VehicleParams]:
        """The vehicle parameters stored when each portfolio was created, by portfolio id
        (a portfolio registered before they were stored has none)."""
        return {
            row["portfolio_id"]: VehicleParams.from_dict(json.loads(row["params"]))
            for row in self.db.query("SELECT * FROM vehicle_params ORDER BY portfolio_id")
        }

    def nav_span(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[datetime, datetime] | None:
        """First and last NAV time of the ledger within (start, end] (None: no NAV row)."""
        sql = (
            "SELECT MIN(at) AS lo, MAX(at) AS hi FROM nav "
            "WHERE (? IS NULL OR at > ?) AND (? IS NULL OR at <= ?)"
        )
        lo, hi = _optional_time(start), _optional_time(end)
        row = next(iter(self.db.query(sql, [lo, lo, hi, hi])))
        return None if row["lo"] is None else (parse_time(row["lo"]), parse_time(row["hi"]))

    def holdings(self) -> dict[str, dict[str, Any]]:
        """What each portfolio holds as of its latest NAV row, by portfolio id.

        `at`, `nav`, `cash`, `exposure` (signed USDT notional), `leverage` (exposure / NAV):
        the latest `nav` row (None before the first); `position`: the open `positions` row
        (perp or spot) or None; `tokens`: token units held per instrument (subscribed minus
        redeemed, divided by the split ratio at each reverse split), units > 0 only.
        """
        latest = {
            row["portfolio_id"]: row
            for row in self.db.query(
                "SELECT n.* FROM portfolios p CROSS JOIN nav n WHERE n.portfolio_id = p.id AND "
                "n.at = (SELECT max(at) FROM nav WHERE portfolio_id = p.id)"
            )
        }
        positions = {
            row["portfolio_id"]: row
            for row in self.rows("positions", "closed_at IS NULL", order_by="opened_at, id")
        }
        params = self.vehicle_params()
        held: dict[str, dict[str, Any]] = {}
        for portfolio in self.rows("portfolios", order_by="id"):
            pid = portfolio["id"]
            nav = latest.get(pid, {})
            held[pid] = {
                "at": parse_time(nav["at"]) if nav else None,
                **{key: nav.get(key) for key in ("nav", "cash", "exposure", "leverage")},
                "position": positions.get(pid),
                "tokens": self._token_units(pid, params.get(pid)),
            }
        return held

    def _token_units(self, portfolio_id: str, params: VehicleParams | None) -> dict[str, float]:
        # Fills and reverse splits in time order (a split divides the units held then).
        ratio = (
            max((spec.split_ratio for spec in params.tokens.values()), default=1.0)
            if (params is not None)
            else 1.0
        )
        sql = (
            "SELECT at, 0 AS split, instrument, reason, qty FROM fills WHERE portfolio_id = ? "
            "AND reason IN ('subscribe', 'redeem') UNION ALL "
            "SELECT at, 1, NULL, NULL, NULL FROM token_events WHERE portfolio_id = ? "
            "AND kind = 'reverse_split' ORDER BY at, split"
        )
        units: dict[str, float] = {}
        for row in self.db.query(sql, [portfolio_id, portfolio_id]):
            if row["split"]:
                units = {name: qty / ratio for name, qty in units.items()}
            else:
                sign = 1.0 if row["reason"] == "subscribe" else -1.0
                units[row["instrument"]] = units.get(row["instrument"], 0.0) + sign * row["qty"]
        # A whole redemption leaves float dust: below a billionth of a unit is nothing held.
        return {name: qty for name, qty in units.items() if qty > 1e-9}

    def report_rows(self, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
        """Ledger rows a report over the window (start, end] needs, as plain dicts.

        `nav`: each portfolio's last row at or before `start` plus every row in (start, end];
        `fills`, `fees`, `token_events`: rows in (start, end]; `positions`: opened at or before
        `end` and not closed at or before `start`; `rebalance_leverage`: `leverage_after` of
        every rebalance up to `end` (to infer a token's target leverage); `refusals`: entries
        refused per portfolio and reason, summed over the UTC days of (start, end] (whole
        days: a day's count is in when its last refusal lies in the window); `deaths`: every
        portfolio that died at or before `end`.
        """
        lo, hi = format_time(start), format_time(end)
        window = "at > ? AND at <= ?"
        # CROSS JOIN keeps portfolios the outer loop (SQLite's rule), so both halves search the
        # (portfolio_id, at) primary key per portfolio instead of scanning every NAV row.
        nav_sql = (
            "SELECT n.* FROM portfolios p CROSS JOIN nav n WHERE n.portfolio_id = p.id AND "
            "n.at = (SELECT max(at) FROM nav WHERE portfolio_id = p.id AND at <= ?) UNION ALL "
            "SELECT n.* FROM portfolios p CROSS JOIN nav n WHERE n.portfolio_id = p.id "
            "AND n.at > ? AND n.at <= ? ORDER BY portfolio_id, at"
        )
        return {
            "portfolios": self.rows("portfolios", order_by="id"),
            "nav": list(self.db.query(nav_sql, [lo, lo, hi])),
            "fills": self.rows("fills", window, [lo, hi], order_by="at, id"),
            "fees": self.rows("fees", window, [lo, hi], order_by="at, id"),
            "token_events": self.rows("token_events", window, [lo, hi], order_by="at, id"),
            "positions": self.rows(
                "positions",
                "opened_at <= ? AND (closed_at IS NULL OR closed_at > ?)",
                [hi, lo],
                order_by="opened_at, id",
            ),
            "refusals": list(
                self.db.query(
                    "SELECT portfolio_id, reason, SUM(count) AS count FROM entry_refusals "
                    "WHERE last_at > ? AND last_at <= ? GROUP BY portfolio_id, reason "
                    "ORDER BY portfolio_id, reason",
                    [lo, hi],
                )
            ),
            "deaths": self.rows("portfolio_deaths", "at <= ?", [hi], order_by="portfolio_id"),
            "rebalance_leverage": list(
                self.db.query(
                    "SELECT portfolio_id, leverage_after FROM token_events "
                    "WHERE kind = 'rebalance' AND at <= ? ORDER BY portfolio_id, at, id",
                    [hi],
                )
            ),
        }


def _quote_from_row(row: Mapping[str, Any]) -> Quote:
    nxt = row["next_funding_at"]
    return Quote(
        symbol=row["symbol"],
        at=parse_time(row["at"]),
        last=row["last"],
        mark=row["mark"],
        index_price=row["index_price"],
        bid=row["bid"],
        ask=row["ask"],
        funding_rate=row["funding_rate"],
        next_funding_at=None if nxt is None else parse_time(nxt),
    )


def _time_filter(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append("at >= ?")
        params.append(format_time(start))
    if end is not None:
        where.append("at <= ?")
        params.append(format_time(end))
    return where, params


def _optional_time(at: datetime | None) -> str | None:
    return None if at is None else format_time(at)


def _where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""
