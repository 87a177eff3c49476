"""Configuration: a TOML file plus `LTBOT_<SECTION>__<KEY>` environment overrides.

Validated once at start-up by pydantic-settings; the environment wins over the file; every model
is frozen and rejects unknown keys. Build it with `load_settings(path)` in the CLI and pass it
down; there is no module-level settings object.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.config.environment import (
    EnvSource,
    EnvValueError,
    apply_experiment_overrides,
    check_environment,
)
from bot.config.redaction import redact
from bot.config.strategy_loader import config_dir, search_roots
from bot.config.vehicles import VehicleSpec, validate_preset_overrides
from bot.engine.bars import timeframe_seconds

DEFAULT_CONFIG_PATH = Path("config.toml")
LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
Fill = Literal["close", "next_open"]
# The ccxt ids the feed is written and tested for (bot/adapters/ccxt/); ccxt knows ~100 more,
# whose swap markets, funding endpoints and symbols ltbot has never been checked against.
SUPPORTED_EXCHANGES: tuple[str, ...] = ("binanceusdm", "bybit", "okx")
# Below this, polls are only sensible against the loopback sim exchange (`api_url`).
MIN_LIVE_POLL_SECONDS = 1.0


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key path."""


class _Section(BaseModel):
    # Every float is finite: inf, nan and 1e400 (TOML reads it as inf) are refused.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads true as 1 for int and float fields; a bool there is a typo.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class ExchangeSettings(_Section):
    """`[exchange]`: where market data comes from (public endpoints only, no API keys)."""

    id: str = "binanceusdm"
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT:USDT", "ETH/USDT:USDT"])
    # 0.01 s is for the sim exchange at high speed; the real APIs need >= 1 s (see below).
    poll_seconds: float = Field(15.0, ge=0.01, le=86_400)
    api_url: str | None = None
    timeout_ms: int = Field(10_000, ge=100, le=300_000)
    max_retries: int = Field(5, ge=0, le=100)
    backoff_base_seconds: float = Field(1.0, gt=0, le=3_600)
    backoff_max_seconds: float = Field(60.0, gt=0, le=3_600)
    max_jump_pct: float = Field(0.10, gt=0, le=100)
    stale_after_seconds: float = Field(120.0, gt=0, le=604_800)
    # Candle (klines) and funding-history requests one poll may make; the rest waits, oldest
    # first (bot/adapters/ccxt/feed.py). Start-up warm-up and catch-up after downtime are not
    # bounded by it.
    history_requests_per_poll: int = Field(4, ge=1, le=1_000)
    # Warn once at start-up when the bundled leverage tiers (bot/data/README.md) are older
    # than this many days by the wall clock; 180: Binance revises brackets a few times a year.
    tiers_max_age_days: float = Field(180.0, gt=0, le=36_500)

    @field_validator("id")
    @classmethod
    def _supported_exchange(cls, value: str) -> str:
        if value not in SUPPORTED_EXCHANGES:
            supported = ", ".join(SUPPORTED_EXCHANGES)
            raise ValueError(f"unsupported exchange {value!r} (supported: {supported})")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is required")
        if len(set(value)) != len(value):
            raise ValueError("symbols must be unique")
        return value

    @field_validator("api_url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url must start with http:// or https://, got {value!r}")
        return value

    @model_validator(mode="after")
    def _live_poll_not_too_fast(self) -> ExchangeSettings:
        if self.api_url is None and self.poll_seconds < MIN_LIVE_POLL_SECONDS:
            raise ValueError(
                f"exchange.poll_seconds: {self.poll_seconds:g} s is below "
                f"{MIN_LIVE_POLL_SECONDS:g} s, allowed only with exchange.api_url (sim exchange)"
            )
        return self


class StoreSettings(_Section):
    """`[store]`: the SQLite ledger."""

    path: Path = Path("data/ltbot.db")
    # Days of `ticks` the daemon keeps (0: all). Once a day older ticks are deleted; candles,
    # funding and the ledger stay. See bot/runtime/retention_job.py.
    tick_retention_days: int = Field(0, ge=0, le=3_650)


class LogSettings(_Section):
    """`[log]`: loguru sinks (stderr and a rotating file beside the database)."""

    level: LogLevel = "INFO"
    rotation: str = "10 MB"
    retention: int = Field(5, ge=1, le=1_000)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ReportSettings(_Section):
    """`[report]`: when and where the daily summary is written."""

    timezone: str = "UTC"
    time: dt.time = dt.time(0, 5)
    out_dir: Path = Path("reports")
    webhook_url: str | None = None
    webhook_format: Literal["telegram", "discord", "slack"] = "slack"
    telegram_chat_id: str | None = None
    # What "who won" ranks by (docs/REPORTS.md): a risk-adjusted ratio or the plain return.
    rank_by: Literal["sharpe", "sortino", "calmar", "return"] = "sharpe"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value


class StrategiesSettings(_Section):
    """`[strategies]`: where strategies are looked for besides the shipped `strategies/`."""

    # Directories of strategy files (every *.py not starting with "_"), searched after the
    # shipped ones, and roots of `module:Class` modules. A relative path is looked for in the
    # config file's directory, then the working directory (bot/config/strategy_loader.py).
    paths: list[Path] = Field(default_factory=list)

    @field_validator("paths")
    @classmethod
    def _existing_directories(cls, value: list[Path]) -> list[Path]:
        found = []
        for i, path in enumerate(value):
            tried = [path] if path.is_absolute() else [root / path for root in search_roots()]
            existing = next((p for p in tried if p.is_dir()), None)
            if existing is None:
                where = ", ".join(str(p) for p in tried)
                raise ValueError(
                    f"strategies.paths[{i}]: no directory {str(path)!r} (looked for {where})"
                )
            found.append(existing.resolve())
        return found


class ExperimentSettings(_Section):
    """`[[experiments]]`: one strategy on one symbol, run through several vehicles."""

    name: str = Field(min_length=1)
    symbol: str
    strategy: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    capital: float = Field(10_000.0, gt=0, le=1e12)
    vehicles: list[VehicleSpec] = Field(min_length=1)
    # Where a signal fills: "close" (the price when its bar closed) or "next_open" (the open of
    # the next bar, freqtrade's convention); the rule is in bot/engine/engine.py's docstring.
    fill: Fill = "close"
    # The bar timeframe the strategy runs on ("5m", "4h", ...), instead of its class's own.
    timeframe: str | None = None

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str | None) -> str | None:
        if value is not None:
            timeframe_seconds(value)  # ValueError naming the expected form
        return value

    @field_validator("fill", mode="before")
    @classmethod
    def _known_fill(cls, value: Any) -> Any:
        if value not in get_args(Fill):
            raise ValueError(f'expected "close" or "next_open", got {value!r}')
        return value


class Settings(BaseSettings):
    """The whole configuration (see config.example.toml for every key)."""

    model_config = SettingsConfigDict(
        env_prefix="LTBOT_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        validate_default=True,
    )

    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    strategies: StrategiesSettings = Field(default_factory=StrategiesSettings)
    experiments: list[ExperimentSettings] = Field(default_factory=list)
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML document arrives as init kwargs; listing env first makes the environment win.
        # EnvSource replaces pydantic-settings' own (bot/config/environment.py says why).
        del env_settings
        return (EnvSource(settings_cls), init_settings)

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, overrides in value.items():
            validate_preset_overrides(name, overrides)
        return value

    @model_validator(mode="after")
    def _experiments_consistent(self) -> Settings:
        names: set[str] = set()
        for i, experiment in enumerate(self.experiments):
            if experiment.name in names:
                raise ValueError(f"experiments[{i}].name: duplicate name {experiment.name!r}")
            names.add(experiment.name)
            if experiment.symbol not in self.exchange.symbols:
                raise ValueError(
                    f"experiments[{i}].symbol: {experiment.symbol!r} is not in exchange.symbols"
                )
            _check_strategy(i, experiment, self.strategies.paths)
            for j, vehicle in enumerate(experiment.vehicles):
                if vehicle.kind == "token" and vehicle.preset is not None:
                    merged = {**self.presets.get(vehicle.preset, {}), **vehicle.params}
                    try:
                        validate_preset_overrides(vehicle.preset, merged)
                    except ValueError as exc:
                        raise ValueError(f"experiments[{i}].vehicles[{j}]: {exc}") from None
        return self


def _check_strategy(index: int, experiment: ExperimentSettings, paths: list[Path]) -> None:
    # Resolve the strategy and validate its params now, so `config check` and every command
    # reject an unknown strategy or parameter before the first poll (DESIGN.md: "unknown keys
    # rejected at startup"). Imported here: the loader imports strategy modules.
    from bot.config.strategy_loader import StrategyLoadError, build

    try:
        build(experiment.strategy, experiment.params, timeframe=experiment.timeframe, paths=paths)
    except StrategyLoadError as exc:
        text = str(exc)
        key = "" if text.startswith("strategy ") else ".strategy"
        raise ValueError(f"experiments[{index}]{key}: {text}") from None


def load_settings(path: Path | None = None) -> Settings:
    """Read `path` (default `config.toml` if it exists), apply the environment, validate.

    Raises ConfigError with a one-line message naming the key path of the first problem.
    Relative strategy paths and `module:Class` modules are looked for beside the file first.
    """
    document = _read_toml(path)
    environ = dict(os.environ)
    base = (path or DEFAULT_CONFIG_PATH).resolve().parent
    try:
        check_environment(Settings, environ)
        document = apply_experiment_overrides(Settings, document, environ)
        with config_dir(base):
            return Settings(**document)
    except EnvValueError as exc:
        raise ConfigError(str(exc)) from None
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    except SettingsError as exc:  # an environment value pydantic-settings cannot decode
        raise ConfigError(str(exc)) from None


def _read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return {}
        path = DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def format_validation_error(exc: ValidationError) -> str:
    """Turn the first pydantic error into `key.path[i]: problem`."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    location = _format_location(error["loc"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    if ":" in message.split(" ", 1)[0] or not location:
        return message  # a model validator already named the key path
    return f"{location}: {message}"


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def summary(settings: Settings) -> str:
    """One line describing a valid config, for `ltbot config check`."""
    portfolios = sum(len(e.vehicles) for e in settings.experiments)
    return (
        f"ok: exchange {settings.exchange.id} ({len(settings.exchange.symbols)} symbols, "
        f"poll {settings.exchange.poll_seconds:g}s), {len(settings.experiments)} experiments, "
        f"{portfolios} portfolios, database {settings.store.path}"
    )


def redacted_config(settings: Settings) -> dict[str, Any]:
    """The effective config as JSON-ready data with secrets replaced by "***", for `runs.config`
    and logs: webhook URLs (scheme and host kept), chat ids, any secret-like key, and the
    user:password part of any URL (bot/config/redaction.py says which keys)."""
    redacted: dict[str, Any] = redact(json.loads(settings.model_dump_json()))
    return redacted


def redacted_json(settings: Settings) -> str:
    """`redacted_config` as one line of JSON."""
    return json.dumps(redacted_config(settings), ensure_ascii=False)
