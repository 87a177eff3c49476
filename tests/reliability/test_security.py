"""Security: no credentials and only public endpoints; a private ledger file; HTML reports
escape every text from config or strategies; no SQL built by formatting.
"""

from __future__ import annotations

import ast
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.ccxt.exchange import CREDENTIALS, build_exchange
from bot.adapters.ccxt.feed import CcxtFeed
from bot.adapters.replay.feed import ReplayFeed
from bot.adapters.sim.exchange import SimExchange
from bot.adapters.sqlite.store import Store
from bot.config.settings import Settings
from bot.reports.job import run_report
from bot.runtime.clock import FakeClock
from bot.runtime.replay_driver import run_replay
from bot.strategy import Direction, HistoryView, Signal, Strategy, StrategyParams

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"
BTC = "BTC/USDT:USDT"
START = datetime(2024, 3, 1, 7, 50, tzinfo=UTC)
# The public market-data endpoints of DESIGN.md (plus the server time); nothing else may be hit.
PUBLIC = {
    "exchangeInfo",
    "premiumIndex",
    "ticker/price",
    "ticker/bookTicker",
    "ticker/24hr",
    "klines",
    "markPriceKlines",
    "fundingRate",
    "fundingInfo",
    "time",
    "ping",
}


@pytest.fixture
def sim() -> Iterator[SimExchange]:
    with SimExchange(speed=0, start=START) as server:
        yield server


def test_the_exchange_client_holds_no_credentials_even_if_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ccxt exchanges accept keys from their constructor config or attributes; ours never has any
    exchange = build_exchange("binanceusdm", None, 1000, rate_limit=False)
    assert all(not getattr(exchange, key, None) for key in CREDENTIALS)
    # a key planted in the environment is not picked up either
    monkeypatch.setenv("BINANCEUSDM_APIKEY", "planted")
    monkeypatch.setenv("BINANCEUSDM_SECRET", "planted")
    exchange = build_exchange("binanceusdm", None, 1000, rate_limit=False)
    assert all(not getattr(exchange, key, None) for key in CREDENTIALS)


def test_the_feed_calls_only_public_endpoints_and_never_signs(sim: SimExchange) -> None:
    # Arrange
    feed = CcxtFeed(
        [BTC, "ETH/USDT:USDT"],
        "binanceusdm",
        api_url=sim.url,
        rate_limit=False,
        timeout_ms=2000,
        clock=FakeClock(START),
        timeframes=["5m", "1h"],
    )
    try:
        # Act: connect, then a few polls that fetch quotes, candles and funding
        feed.connect()
        for i in range(4):
            sim.set_time(START + timedelta(hours=i))
            feed.poll(START + timedelta(hours=i))
    finally:
        feed.close()

    # Assert
    requests = sim.requests
    assert len(requests) > 10
    assert not [r for r in requests if r.signed]
    assert all(r.method == "GET" for r in requests)
    endpoints = {r.path.split("/", 3)[-1] for r in requests}
    assert endpoints <= PUBLIC, endpoints - PUBLIC


class Hostile(Strategy[StrategyParams]):
    """A strategy whose name is markup."""

    name = '<img src=x onerror="alert(1)">'
    timeframe = "1h"

    def on_bar(self, history: HistoryView) -> Signal | None:
        return Signal(Direction.LONG, stop=history.close[-1] * 0.97)


HOSTILE_NAME = '<script>alert("x")</script>&"quoted"'


def test_replayed_ledger_is_private_and_its_html_report_escapes_config_and_strategy_text(
    tmp_path: Path,
) -> None:
    # Arrange: an experiment named with markup, a strategy whose name and path are markup-ish
    settings = Settings(
        exchange={"symbols": [BTC]},  # type: ignore[arg-type]
        store={"path": tmp_path / "ledger.db"},  # type: ignore[arg-type]
        report={"out_dir": tmp_path / "reports"},  # type: ignore[arg-type]
        experiments=[
            {  # type: ignore[list-item]
                "name": HOSTILE_NAME,
                "symbol": BTC,
                "strategy": f"{__name__}:Hostile",
                "capital": 1000,
                "vehicles": ["token:ftx", "perp:risk_pct=0.02", "spot"],
            }
        ],
    )
    feed = ReplayFeed.from_data_dir(
        SAMPLE, symbols=[BTC], start=START.replace(hour=0), end=START + timedelta(days=1)
    )

    # Act
    try:
        run_replay(settings, feed)
    finally:
        feed.close()
    with Store(settings.store.path) as store:
        output = run_report(store, settings, date(2024, 3, 1), date(2024, 3, 2))
    html = Path(output.html).read_text(encoding="utf-8")

    # Assert: mode 0600 for the ledger and its WAL files
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{settings.store.path}{suffix}")
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # Assert: the names reach the report, escaped, never as markup
    assert "&lt;script&gt;" in html
    assert "<script>alert" not in html and "<img" not in html
    assert 'onerror="alert' not in html


# -- no SQL built by formatting ----------------------------------------------------------

# method name -> index of the argument that holds SQL text (a statement or a WHERE clause)
SQL_CALLS = {
    "execute": 0,
    "executemany": 0,
    "executescript": 0,
    "query": 0,
    "rows_where": 0,  # sqlite-utils: the WHERE clause
    "rows": 1,  # Store.rows(table, where, params)
}
# Reviewed exceptions: (module, function) whose formatted SQL holds only text fixed in the
# code (column names of a constant row layout, WHERE clauses made of fixed "col op ?" pieces
# joined by _where/_time_filter); every value is still a bound parameter.
ALLOWED: set[tuple[str, str]] = {
    ("bot/adapters/sqlite/writer.py", "_UPSERT_POSITION"),  # columns of _POSITION_COLUMNS
    ("bot/adapters/sqlite/queries.py", "iter_ticks.sql"),  # "symbol IN (?, ...)" + time filter
    ("bot/adapters/sqlite/queries.py", "iter_candles"),  # fixed "symbol = ?" + time filter
    ("bot/adapters/sqlite/queries.py", "funding_rates.sql"),  # "symbol = ?" + time filter
}


def _formatted(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def _formatted_names(nodes: Iterable[ast.AST]) -> set[str]:
    return {
        t.id
        for node in nodes
        if isinstance(node, ast.Assign) and _formatted(node.value)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def sql_formatting_sites(root: Path) -> list[tuple[str, str, int]]:
    """(module, where, line) of every SQL call whose statement is built by formatting: `where`
    is the function, `function.variable` for a local variable assigned from a formatted
    string, or the name of such a module-level constant. Calls through a local alias of an
    SQL method (`many = conn.executemany`) count too."""
    sites = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = path.relative_to(root.parent).as_posix()
        # module-level constants built by formatting, e.g. a statement from column names
        constants = _formatted_names(tree.body)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            local = _formatted_names(ast.walk(func))
            # local aliases of SQL methods, e.g. `many = self.db.conn.executemany`
            aliases = {
                t.id: node.value.attr
                for node in ast.walk(func)
                if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in SQL_CALLS
                for t in node.targets
                if isinstance(t, ast.Name)
            }
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                if isinstance(node.func, ast.Attribute):
                    method = node.func.attr
                elif isinstance(node.func, ast.Name):
                    method = aliases.get(node.func.id, "")
                else:
                    continue
                if method not in SQL_CALLS or len(node.args) <= SQL_CALLS[method]:
                    continue
                sql = node.args[SQL_CALLS[method]]
                if _formatted(sql):
                    sites.append((module, func.name, node.lineno))
                elif isinstance(sql, ast.Name) and sql.id in local:
                    sites.append((module, f"{func.name}.{sql.id}", node.lineno))
                elif isinstance(sql, ast.Name) and sql.id in constants:
                    sites.append((module, sql.id, node.lineno))  # reviewed by its name
    return sites


def test_no_sql_is_built_by_formatting_outside_the_reviewed_list() -> None:
    sites = sql_formatting_sites(REPO / "bot")
    unreviewed = [s for s in sites if (s[0], s[1]) not in ALLOWED]
    assert not unreviewed, f"SQL built by formatting (use bound parameters): {unreviewed}"


def test_the_sql_scan_finds_formatted_statements(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "bad.py").write_text(
        "def a(db, name):\n    db.execute(f'SELECT * FROM t WHERE n = {name}')\n"
        "def b(db, name):\n    sql = 'SELECT %s' % name\n    db.query(sql)\n"
        "def c(db, name):\n    db.execute('SELECT * FROM t WHERE n = ?', [name])\n"
        "def d(store, name):\n    store.rows('fills', f'reason = {name}')\n"
        "SQL = f'DELETE FROM {TABLE}'\n"
        "def e(db):\n    many = db.executemany\n    many(SQL, [])\n",
        encoding="utf-8",
    )
    assert [s[1] for s in sql_formatting_sites(package)] == ["a", "b.sql", "d", "SQL"]
