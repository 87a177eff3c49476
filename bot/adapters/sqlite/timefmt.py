"""The database's fixed-width UTC time text: `2024-01-01T00:00:00.000Z` (sorts as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(at: datetime) -> str:
    """Format an aware datetime as fixed-width UTC text with milliseconds."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} (all times must be UTC-aware)")
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse the fixed-width text (or any ISO 8601 with an offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return parsed.astimezone(UTC)
