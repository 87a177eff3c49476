"""Vehicle specs from config strings: `kind[:preset][:key=value,key=value]`.

Examples: `token:ftx`, `token:binance_blvt:target_leverage=2.5`, `perp:risk_pct=0.02`,
`perp_static:leverage=3`, `spot`, `token:binance_blvt:tolerance=0.1,target_leverage_short=2,
daily_time=00:00` (a value may hold ':', a time of day). Values are parsed as int, float or bool
when they look like one, else kept as text; the vehicle's own parameter model then validates
them. A token override named `<parameter>_long` or `<parameter>_short` sets one side only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

VehicleKind = Literal["token", "perp", "perp_static", "spot"]
VEHICLE_KINDS: tuple[str, ...] = ("token", "perp", "perp_static", "spot")
# The seven vehicles every experiment of config.example.toml runs (the benchmarks use them).
DEFAULT_VEHICLES: tuple[str, ...] = (
    "token:binance_blvt",
    "token:ftx",
    "token:bybit",
    "perp:risk_pct=0.02",
    "perp:risk_pct=0.05",
    "perp_static:leverage=3",
    "spot",
)


class VehicleSpec(BaseModel):
    """A parsed vehicle: its kind, the token preset (tokens only) and parameter overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: VehicleKind
    preset: str | None = None
    params: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return _split_vehicle(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _params_valid(self) -> VehicleSpec:
        if self.kind == "token":
            if self.preset is None:
                raise ValueError("token vehicle needs a preset, e.g. 'token:ftx'")
            validate_preset_overrides(self.preset, self.params)
        else:
            validate_vehicle_params(self.kind, self.params)
        return self

    @property
    def label(self) -> str:
        """The canonical config string, used as the portfolio's vehicle name."""
        head = f"{self.kind}:{self.preset}" if self.preset else self.kind
        if not self.params:
            return head
        return head + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))


def parse_vehicle(text: str) -> VehicleSpec:
    """Parse and validate one vehicle string; raise ValueError with a one-line message."""
    return VehicleSpec.model_validate(text)


def _split_vehicle(text: str) -> dict[str, Any]:
    kind, _, tail = text.strip().partition(":")
    if kind not in VEHICLE_KINDS:
        raise ValueError(f"unknown vehicle {kind!r} (expected one of {', '.join(VEHICLE_KINDS)})")
    rest = [tail] if tail else []
    preset: str | None = None
    if kind == "token":
        preset, _, after = tail.partition(":")
        if not preset:
            raise ValueError("token vehicle needs a preset, e.g. 'token:ftx'")
        rest = [after] if after else []
    # Parameters come after the last structural ':'; a ':' inside them must follow a '='.
    if rest and ":" in rest[0].split("=", 1)[0]:
        raise ValueError(f"too many ':' in vehicle {text!r}")
    params = _parse_params(rest[0]) if rest else {}
    return {"kind": kind, "preset": preset, "params": params}


def _parse_params(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {item!r}")
        params[key.strip()] = _parse_scalar(raw.strip())
    return params


def _parse_scalar(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            continue
    return raw


def validate_preset_overrides(preset: str, overrides: Mapping[str, Any]) -> None:
    """Raise ValueError unless `preset` exists and accepts every override."""
    from bot.domain.token_presets import token_spec
    from bot.domain.values import Side

    for side in (Side.LONG, Side.SHORT):  # a side's own override may be wrong for it alone
        token_spec(preset, side, dict(overrides))


def validate_vehicle_params(kind: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError unless the perp / perp_static / spot parameters are valid."""
    build_vehicle_params(kind, params)


def build_vehicle_params(kind: str, params: Mapping[str, Any]) -> object:
    """Construct the domain parameter object of a non-token vehicle from config values."""
    from bot.domain import perp, spot

    factories: dict[str, Any] = {
        "perp": perp.PerpParams,
        "perp_static": perp.StaticPerpParams,
        "spot": spot.SpotParams,
    }
    factory = factories[kind]
    try:
        return factory(**params)
    except TypeError as exc:
        raise ValueError(_unknown_param_message(kind, exc)) from None


def _unknown_param_message(kind: str, exc: TypeError) -> str:
    text = str(exc)
    if "unexpected keyword argument" in text:
        name = text.rsplit(" ", 1)[-1].strip("'")
        return f"unknown parameter {name!r} for vehicle {kind!r}"
    return f"{kind}: {text}"
