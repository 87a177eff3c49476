"""A study's configuration: data, symbols, windows, strategy grids and vehicle grids (TOML).

See study.example.toml for every key. Relative paths (`study.data`, `study.db`) are taken from
the config file's directory. Validated once, before any work: an unknown key, preset, vehicle
parameter or strategy parameter is a `StudyConfigError` naming the key path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config.settings import format_validation_error
from bot.config.vehicles import VehicleSpec, parse_vehicle, validate_preset_overrides


class StudyConfigError(ValueError):
    """A bad study config (a user error: exit code 2), with a one-line message."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class StudySection(_Section):
    """`[study]`: where the data and the results are, and what every cell shares."""

    data: Path
    db: Path = Path("study.db")
    symbols: list[str] = Field(min_length=1)
    capital: float = Field(10_000.0, gt=0, le=1e12)
    fill: Literal["close", "next_open"] = "close"
    timeframe: str | None = None
    # Cells per task handed to a worker: fewer, larger tasks keep scheduling overhead small.
    cells_per_task: int = Field(4, ge=1, le=10_000)


class WindowsSection(_Section):
    """`[windows]`: rolling windows (`length_days`, `step_days`, optional `from`/`to`) or
    explicit `ranges` ([["YYYY-MM-DD", "YYYY-MM-DD"], ...], end exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    length_days: int | None = Field(None, ge=1, le=36_500)
    step_days: int | None = Field(None, ge=1, le=36_500)
    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    ranges: list[tuple[date, date]] = Field(default_factory=list)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, value: list[tuple[date, date]]) -> list[tuple[date, date]]:
        for i, (lo, hi) in enumerate(value):
            if hi <= lo:
                raise ValueError(f"ranges[{i}]: end {hi} is not after start {lo}")
        return value


class StrategyGrid(_Section):
    """`[[strategies]]`: a strategy, fixed `params` and a `grid` of parameter lists."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    def expand(self) -> list[dict[str, Any]]:
        """Every parameter set of the grid (cartesian product, keys sorted), fixed ones merged."""
        keys = sorted(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys))
        return [{**self.params, **dict(zip(keys, combo, strict=True))} for combo in combos]


class VehicleGrid(_Section):
    """`[[vehicles]]`: a vehicle string (`use`) and a `grid` of parameter lists added to it."""

    use: str = Field(min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    def expand(self) -> list[str]:
        """The vehicle strings of the grid, each parsed and validated."""
        keys = sorted(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            extra = ",".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
            if not extra:
                out.append(self.use)
            else:
                out.append(f"{self.use}{',' if self._params_part() else ':'}{extra}")
        return out

    def _params_part(self) -> str:
        # The part of `use` after the kind (and the preset, for tokens) that holds k=v pairs.
        kind, _, tail = self.use.partition(":")
        if kind == "token":
            tail = tail.partition(":")[2]
        return tail


class StudyConfig(_Section):
    """The whole study."""

    study: StudySection
    windows: WindowsSection
    strategies: list[StrategyGrid] = Field(min_length=1)
    vehicles: list[VehicleGrid] = Field(min_length=1)
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, overrides in value.items():
            validate_preset_overrides(name, overrides)
        return value

    def vehicle_specs(self) -> list[VehicleSpec]:
        """Every vehicle of every grid, in config order, duplicates dropped."""
        seen: dict[str, VehicleSpec] = {}
        for i, grid in enumerate(self.vehicles):
            for text in grid.expand():
                try:
                    spec = parse_vehicle(text)
                except (ValidationError, ValueError) as exc:
                    raise StudyConfigError(f"vehicles[{i}]: {text!r}: {_message(exc)}") from None
                seen.setdefault(spec.label, spec)
        return list(seen.values())

    def fingerprint(self) -> str:
        """A hash of the effective config: a study file belongs to exactly one."""
        # Where results go and how cells are batched do not change any result.
        data = self.model_dump(
            mode="json", by_alias=True, exclude={"study": {"db", "cells_per_task"}}
        )
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def windows_bounds(self) -> tuple[datetime | None, datetime | None]:
        """`[windows] from`/`to` as UTC midnights (None when not given)."""
        return _midnight(self.windows.start), _midnight(self.windows.end)


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def window_ranges(
    config: StudyConfig, first: datetime, last: datetime
) -> list[tuple[datetime, datetime]]:
    """The windows of the study inside the data span [first, last] (UTC): explicit ranges as
    given, or rolling windows of `length_days` every `step_days` from the first midnight at or
    after max(first, from) while they end by min(last, to)."""
    w = config.windows
    if w.ranges:
        return [(_day(lo), _day(hi)) for lo, hi in w.ranges]
    assert w.length_days is not None and w.step_days is not None  # checked by load
    lo, hi = config.windows_bounds()
    start = max(first, lo) if lo else first
    stop = min(last, hi) if hi else last
    if start.time() != datetime.min.time():
        start = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    length, step = timedelta(days=w.length_days), timedelta(days=w.step_days)
    out = []
    while start + length <= stop:
        out.append((start, start + length))
        start += step
    return out


def _day(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def load_study_config(path: Path) -> StudyConfig:
    """Read and validate a study TOML; paths become absolute (relative to its directory)."""
    if not path.is_file():
        raise StudyConfigError(f"{path}: config file not found")
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise StudyConfigError(f"{path}: invalid TOML: {exc}") from None
    return study_config_from(document, path.resolve().parent)


def study_config_from(document: dict[str, Any], base: Path) -> StudyConfig:
    """Validate a study document (a TOML table as a dict); relative paths are under `base`."""
    try:
        config = StudyConfig(**document)
    except ValidationError as exc:
        raise StudyConfigError(format_validation_error(exc)) from None
    w = config.windows
    if not w.ranges and (w.length_days is None or w.step_days is None):
        raise StudyConfigError("windows: give length_days and step_days, or ranges")
    study = config.study.model_copy(
        update={"data": base / config.study.data, "db": base / config.study.db}
    )
    config = config.model_copy(update={"study": study})
    config.vehicle_specs()  # every vehicle string valid (unknown presets, bad parameters)
    return config


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
    return str(exc)
