"""The bad-input table: every row runs the real CLI (`python -m bot ...` in a subprocess).

Each bad input must give exit code 2, exactly one line on stderr that names the problem (no
traceback), and leave every file that existed before byte-identical.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.adapters.sim.exchange import SimExchange

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bot" / "data" / "sample"

GOOD = """
[exchange]
symbols = ["BTC/USDT:USDT"]
api_url = "{url}"
poll_seconds = {poll}
timeout_ms = 2000
max_retries = 1
backoff_base_seconds = 0.05
backoff_max_seconds = 0.1

[store]
path = "{db}"

[[experiments]]
name = "btc"
symbol = "BTC/USDT:USDT"
strategy = "{strategy}"
params = {params}
capital = {capital}
vehicles = [{vehicles}]
"""


@dataclass(frozen=True)
class Case:
    """One row: how to break the input, which command to run, what stderr must name."""

    id: str
    args: list[str]
    message: str
    setup: Callable[[Path, str], None] | None = None


def config(
    directory: Path,
    url: str,
    *,
    extra: str = "",
    strategy: str = "hold",
    params: str = '{ direction = "long" }',
    capital: str = "10000",
    vehicles: str = '"token:ftx", "perp:risk_pct=0.02", "spot"',
    db: str | None = None,
    symbols: str | None = None,
    poll: str = "0.05",
) -> None:
    text = GOOD.format(
        url=url,
        db=db or directory / "ledger.db",
        strategy=strategy,
        params=params,
        capital=capital,
        vehicles=vehicles,
        poll=poll,
    )
    if symbols is not None:
        text = text.replace('symbols = ["BTC/USDT:USDT"]', f"symbols = {symbols}")
        text = text.replace('symbol = "BTC/USDT:USDT"', f"symbol = {symbols[1:-1]}")
    (directory / "config.toml").write_text(text + extra, encoding="utf-8")


def _cfg(**kwargs: str) -> Callable[[Path, str], None]:
    def setup(directory: Path, url: str) -> None:
        config(directory, url, **kwargs)

    return setup


def _with(*steps: Callable[[Path, str], None]) -> Callable[[Path, str], None]:
    def setup(directory: Path, url: str) -> None:
        for step in steps:
            step(directory, url)

    return setup


def _existing_ledger(directory: Path, url: str) -> None:
    # A real ledger with data, produced by a short replay of the bundled sample.
    config(directory, url)
    result = ltbot(
        "replay",
        "--data",
        str(SAMPLE),
        "--config",
        str(directory / "config.toml"),
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-01",
        "--db",
        str(directory / "ledger.db"),
        cwd=directory,
    )
    assert result.returncode == 0, result.stderr


def _corrupt_db(directory: Path, url: str) -> None:
    (directory / "ledger.db").write_bytes(b"SQLite format 3\x00" + b"\xde\xad\xbe\xef" * 256)


def _file_as_parent(directory: Path, url: str) -> None:
    (directory / "not-a-dir").write_text("a regular file\n", encoding="utf-8")
    config(directory, url, db=str(directory / "not-a-dir" / "ledger.db"))


def _data_dir(files: dict[str, bytes | Path]) -> Callable[[Path, str], None]:
    def setup(directory: Path, url: str) -> None:
        data = directory / "data"
        data.mkdir()
        for name, content in files.items():
            target = data / name
            if isinstance(content, Path):
                target.write_bytes(content.read_bytes())
            else:
                target.write_bytes(content)

    return setup


FUT = "BTC_USDT_USDT-5m-futures"
MARK = "BTC_USDT_USDT-1h-mark"
FUND = "BTC_USDT_USDT-8h-funding_rate"
CSV_HEAD = b"date,open,high,low,close,volume\n"

CHECK = ["config", "check", "config.toml"]
RUN = ["run", "--config", "config.toml"]
REPLAY_DATA = ["replay", "--config", "config.toml", "--db", "out.db", "--data", "data"]

CASES = [
    # -- config: wrong types, out-of-range values, unknown keys, unknown names -------------
    Case("wrong-type", CHECK, "exchange.poll_seconds", _cfg(poll='"fast"')),
    Case("out-of-range-capital", CHECK, "experiments[0].capital", _cfg(capital="-5")),
    Case(
        "out-of-range-risk",
        CHECK,
        "experiments[0].vehicles[1]",
        _cfg(vehicles='"token:ftx", "perp:risk_pct=0.5"'),
    ),
    Case(
        "unknown-key", CHECK, "report.colour: unknown key", _cfg(extra="\n[report]\ncolour = 1\n")
    ),
    Case(
        "unknown-preset",
        CHECK,
        "unknown preset 'ftxx'",
        _cfg(vehicles='"token:ftxx"'),
    ),
    Case("unknown-strategy-check", CHECK, "unknown strategy 'nope'", _cfg(strategy="nope")),
    Case("unknown-strategy-run", RUN, "unknown strategy 'nope'", _cfg(strategy="nope")),
    Case(
        "unknown-strategy-param",
        CHECK,
        "params.speed: unknown parameter",
        _cfg(params='{ direction = "long", speed = 3 }'),
    ),
    Case(
        "bad-strategy-param-value",
        CHECK,
        "params.direction",
        _cfg(params='{ direction = "sideways" }'),
    ),
    Case("malformed-toml", CHECK, "invalid TOML", _cfg(extra="\n[exchange\n")),
    Case(
        "missing-config", ["run", "--config", "absent.toml"], "absent.toml: config file not found"
    ),
    # -- the exchange does not list the symbol ------------------------------------------------
    Case(
        "unknown-symbol",
        RUN,
        "DOGE/USDT:USDT",
        _cfg(symbols='["DOGE/USDT:USDT"]'),
    ),
    # -- databases -------------------------------------------------------------------------
    Case("unwritable-db-run", RUN, "not-a-dir", _file_as_parent),
    Case(
        "unwritable-db-replay",
        ["replay", "--config", "config.toml", "--data", str(SAMPLE), "--db", "not-a-dir/r.db"],
        "not-a-dir",
        _file_as_parent,
    ),
    Case("corrupt-db-run", RUN, "ledger.db", _with(_cfg(), _corrupt_db)),
    Case(
        "corrupt-db-report",
        ["report", "--config", "config.toml", "--db", "ledger.db", "--date", "2024-03-01"],
        "ledger.db",
        _with(_cfg(), _corrupt_db),
    ),
    Case(
        "corrupt-db-status",
        ["status", "--config", "config.toml", "--db", "ledger.db"],
        "ledger.db",
        _with(_cfg(), _corrupt_db),
    ),
    Case(
        "corrupt-db-replay-source",
        ["replay", "--config", "config.toml", "--db", "out.db", "--data", "ledger.db"],
        "ledger.db",
        _with(_cfg(), _corrupt_db),
    ),
    Case(
        "bad-report-date-keeps-ledger",
        ["report", "--config", "config.toml", "--db", "ledger.db", "--date", "2024-02-30"],
        "--date",
        _existing_ledger,
    ),
    Case("sim-exchange-no-data", ["sim-exchange", "--data", "absent"], "absent"),
    Case(
        "download-bad-timeframe",
        ["download", "--symbols", "BTC/USDT:USDT", "--timeframe", "7x", "--since", "2024-01-01"],
        "'7x'",
    ),
    # -- data directories and files --------------------------------------------------------
    Case("empty-data-dir", REPLAY_DATA, "data", _with(_cfg(), _data_dir({}))),
    Case(
        "missing-futures-file",
        REPLAY_DATA,
        "BTC",
        _with(_cfg(), _data_dir({f"{MARK}.feather": SAMPLE / f"{MARK}.feather"})),
    ),
    Case(
        "malformed-feather",
        REPLAY_DATA,
        f"{FUT}.feather",
        _with(_cfg(), _data_dir({f"{FUT}.feather": b"not an arrow file at all"})),
    ),
    Case(
        "malformed-funding-file",
        REPLAY_DATA,
        f"{FUND}.feather",
        _with(
            _cfg(),
            _data_dir(
                {f"{FUT}.feather": SAMPLE / f"{FUT}.feather", f"{FUND}.feather": b"\x00garbage"}
            ),
        ),
    ),
    Case(
        "csv-missing-columns",
        REPLAY_DATA,
        f"{FUT}.csv",
        _with(_cfg(), _data_dir({f"{FUT}.csv": b"date,open,close\n2024-03-01,1,2\n"})),
    ),
    Case(
        "csv-bad-dates",
        REPLAY_DATA,
        f"{FUT}.csv",
        _with(_cfg(), _data_dir({f"{FUT}.csv": CSV_HEAD + b"yesterday,1,2,0.5,1.5,10\n"})),
    ),
    Case(
        "csv-bad-numbers",
        REPLAY_DATA,
        f"{FUT}.csv",
        _with(
            _cfg(),
            _data_dir({f"{FUT}.csv": CSV_HEAD + b"2024-03-01T00:00:00Z,abc,2,0.5,1.5,10\n"}),
        ),
    ),
    Case(
        "csv-not-utf8",
        REPLAY_DATA,
        f"{FUT}.csv",
        _with(_cfg(), _data_dir({f"{FUT}.csv": CSV_HEAD + b"\xff\xfe\x00\x01,\x80\n"})),
    ),
]


def ltbot(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def snapshot(directory: Path) -> dict[Path, bytes]:
    """Every file under `directory` with its bytes."""
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Run every row once, four at a time (each is a separate Python process)."""
    with SimExchange(None, speed=0) as sim:
        # Set-up in this thread (tmp_path_factory is not thread-safe), the commands in parallel.
        prepared = []
        for case in CASES:
            directory = tmp_path_factory.mktemp(case.id)
            if case.setup is not None:
                case.setup(directory, sim.url)
            prepared.append((case, directory, snapshot(directory)))

        def run(item: tuple[Case, Path, dict[Path, bytes]]) -> Outcome:
            case, directory, before = item
            return Outcome(ltbot(*case.args, cwd=directory), directory, before)

        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(zip([c.id for c in CASES], pool.map(run, prepared), strict=True))


@dataclass(frozen=True)
class Outcome:
    result: subprocess.CompletedProcess[str]
    directory: Path
    before: dict[Path, bytes]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_touches_nothing(
    case: Case, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[case.id]
    result = outcome.result
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and case.message in lines[0], lines[0]
    after = snapshot(outcome.directory)
    assert {p: after.get(p) for p in outcome.before} == outcome.before, "an existing file changed"
