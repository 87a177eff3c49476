"""Reviewed false positives of `vulture` (run by `make lint`): each line says why it is used.

vulture reads this file as code: every name below counts as used. Add a line only with a reason;
anything else vulture reports is dead code to delete. Decorated pydantic validators, migrations
and Typer commands are ignored by decorator in pyproject.toml ([tool.vulture]).
"""

from bot import __getattr__  # module-level lazy attribute (PEP 562): `bot.simulate_token`
from bot.adapters.sim.exchange import SimExchange
from bot.adapters.sim.http import SimHTTPServer, _Handler
from bot.config.settings import Settings
from bot.config.vehicles import DEFAULT_VEHICLES  # the example config's vehicles; bench scripts
from bot.domain.leveraged_token import PendingRequest, TokenState
from bot.domain.rebalance_rules import DailyCheck, DailyReset
from bot.domain.token_records import StepAttribution
from bot.domain.token_spec import TokenSpec
from bot.native import compiled
from bot.engine.validation import REASONS  # the documented set of rejection reasons
from bot.reports.decay import TokenDecomposition
from bot.reports.export import export_json, write_export  # `ltbot report --format json|csv`
from bot.reports.model import LedgerRows
from bot.runtime.clock import FakeClock  # the test clock of the Clock port (STYLE 7.3)
from bot.study.market import Regime, clear_cache

__getattr__, DEFAULT_VEHICLES, REASONS, FakeClock
clear_cache  # scripts/bench_study.py: each run loads the data as a fresh process does
SimExchange.set_time, SimExchange.inject, SimExchange.clear_faults  # how tests drive the sim
SimHTTPServer.daemon_threads, SimHTTPServer.block_on_close  # socketserver hooks
SimHTTPServer.handle_error  # socketserver hook
_Handler.protocol_version, _Handler.server_version, _Handler.sys_version  # http.server hooks
_Handler.do_GET, _Handler.do_PUT, _Handler.do_DELETE, _Handler.log_message  # http.server hooks
_Handler.close_connection  # http.server reads it after each request
Settings.settings_customise_sources  # pydantic-settings hook (environment over TOML)
PendingRequest.asked_at, TokenState.rebalance_at  # state fields, kept in the resume state
DailyReset.time_of_day, DailyCheck.time_of_day  # say which rule it is (repr, ==)
StepAttribution.token_return  # the step's total, the sum its terms must add up to (tests)
TokenSpec.spot_fee_pct  # a preset parameter, shown by `ltbot presets` and stored per portfolio
LedgerRows.rebalance_leverage  # read through dataclasses.fields by the report model
TokenDecomposition.underlying_log  # exported by name (bot/reports/export.py COLUMNS)
write_export, export_json
compiled  # which hot modules run compiled: scripts/bench_study.py and tests
model_config  # pydantic model configuration
exc_type, tb  # __exit__ signatures
_Server.handle_exit, _Server.force_exit  # uvicorn's Server calls it on SIGINT/SIGTERM
RankBy.SHARPE, RankBy.SORTINO, RankBy.CALMAR, RankBy.RETURN  # --rank-by choices (typer)
settings_cls, dotenv_settings, file_secret_settings  # settings_customise_sources signature

# Shipped strategies: found by the strategy loader's scan of the `strategies` package.
from strategies.donchian_breakout import DonchianBreakout
from strategies.hold import Hold
from strategies.sma_cross import SmaCross

DonchianBreakout, Hold, SmaCross
Regime.trend_efficiency, Regime.realised_vol, Regime.funding_mean  # study cells columns (asdict)
