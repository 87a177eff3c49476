"""Study configs over the bundled sample (BTC and ETH 5m, 2024-03-01..04-15) for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config.vehicles import DEFAULT_VEHICLES
from bot.study.config import StudyConfig, study_config_from

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def study_doc(db: Path, **changes: Any) -> dict[str, Any]:
    """A small study: BTC and ETH, two 3-day windows, sma_cross 5/20, the 7 default vehicles."""
    doc: dict[str, Any] = {
        "study": {"data": str(SAMPLE), "db": str(db), "symbols": [BTC, ETH], "cells_per_task": 1},
        "windows": {"ranges": [["2024-03-02", "2024-03-05"], ["2024-03-20", "2024-03-23"]]},
        "strategies": [{"name": "sma_cross", "params": {"fast": 5, "slow": 20}}],
        "vehicles": [{"use": v} for v in DEFAULT_VEHICLES],
    }
    for key, value in changes.items():
        doc[key] = value
    return doc


def study_config(db: Path, **changes: Any) -> StudyConfig:
    """`study_doc` validated."""
    return study_config_from(study_doc(db, **changes), db.parent)


def write_toml(path: Path, doc: dict[str, Any]) -> Path:
    """Write a study document as TOML (only the shapes `study_doc` uses)."""
    lines = []
    for section in ("study", "windows"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {_value(v)}" for k, v in doc[section].items()]
    for table in ("strategies", "vehicles"):
        for item in doc[table]:
            lines.append(f"[[{table}]]")
            lines += [f"{k} = {_value(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)
