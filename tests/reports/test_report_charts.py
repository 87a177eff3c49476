"""Charts that stay readable at any length: downsampling, time ticks, log axis, colours, labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.reports.axes import log_ticks, time_ticks
from bot.reports.charts import (
    LOG_FLOOR,
    MAX_POINTS,
    Line,
    Stack,
    bar_chart,
    colour_map,
    downsample,
    line_chart,
)


def _labels(start: datetime, end: datetime, zone: str = "UTC") -> list[str]:
    return [label for _, label in time_ticks(start, end, zone)]


def test_downsample_keeps_extremes_ends_and_a_bounded_count() -> None:
    points = [(float(i), 1.0) for i in range(60_000)]
    points[31_337] = (31_337.0, 50.0)  # one spike up
    points[45_001] = (45_001.0, 0.01)  # one crash down
    drawn = downsample(points)
    assert len(drawn) <= MAX_POINTS + 1
    assert (31_337.0, 50.0) in drawn and (45_001.0, 0.01) in drawn
    assert drawn[0] == (0.0, 1.0) and drawn[-1] == (59_999.0, 1.0)
    assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)
    short = [(0.0, 1.0), (1.0, 2.0)]
    assert downsample(short) == short


def test_time_ticks_follow_the_span() -> None:
    day = datetime(2024, 1, 1, tzinfo=UTC)
    assert _labels(day, datetime(2024, 1, 2, tzinfo=UTC)) == [
        "00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00",
    ]  # fmt: skip
    assert _labels(day, datetime(2024, 1, 31, tzinfo=UTC)) == [
        "01-01", "01-08", "01-15", "01-22", "01-29",
    ]  # fmt: skip
    assert _labels(day, datetime(2025, 4, 30, tzinfo=UTC)) == [
        "2024-01", "2024-03", "2024-05", "2024-07", "2024-09", "2024-11", "2025-01", "2025-03",
    ]  # fmt: skip
    # The 6.7-year replay: one tick per year, at 1 January.
    assert _labels(datetime(2019, 9, 8, 18, tzinfo=UTC), datetime(2026, 5, 17, 8, tzinfo=UTC)) == [
        "2020", "2021", "2022", "2023", "2024", "2025", "2026",
    ]  # fmt: skip


def test_time_ticks_sit_at_local_midnights() -> None:
    # Berlin, across the spring DST change (31 March 2024): midnights are 23:00 then 22:00 UTC.
    ticks = time_ticks(
        datetime(2024, 3, 29, 23, tzinfo=UTC), datetime(2024, 4, 2, 22, tzinfo=UTC), "Europe/Berlin"
    )
    assert [t.astimezone(UTC).hour for t, _ in ticks] == [23, 23, 22, 22, 22]
    assert [label for _, label in ticks] == ["03-30", "03-31", "04-01", "04-02", "04-03"]


def test_log_ticks() -> None:
    assert log_ticks(0.3, 2.0) == [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    assert log_ticks(0.002, 3.5) == [0.001, 0.01, 0.1, 1.0, 10.0]
    # Eleven decades: every other one, the top one (10^3) always included.
    assert log_ticks(1e-6, 1e3) == [1e-7, 1e-5, 1e-3, 1e-1, 10.0, 1e3]


def test_log_chart_places_decades_evenly_and_floors_zero() -> None:
    line = Line("x", [(0.0, 1.0), (1.0, 10.0), (2.0, 100.0), (3.0, 0.0)], "#000")
    svg = line_chart("NAV", [line], [(0.0, "a"), (3.0, "b")], lambda v: f"{v:g}", log_scale=True)
    [points] = re.findall(r'points="([^"]+)"', svg)
    ys = [float(pair.split(",")[1]) for pair in points.split()]
    assert ys[0] - ys[1] == ys[1] - ys[2]  # 1 -> 10 -> 100: equal steps on a log axis
    assert f">{LOG_FLOOR:g}<" in svg  # the axis reaches down to the floor where 0 is drawn


def test_colours_follow_vehicles_not_rank() -> None:
    first = colour_map(["token:ftx", "spot", "perp:risk_pct=0.02"])
    second = colour_map(["spot", "perp:risk_pct=0.02", "token:ftx", "spot"])
    assert first == second and len(set(first.values())) == 3


def test_bar_labels_are_whole_names() -> None:
    names = ["perp:risk_pct=0.02,stop_atr=2", "perp:risk_pct=0.05,stop_atr=2"]
    svg = bar_chart("Fees", names, [Stack("trading", [1.0, 2.0], "#000")], lambda v: f"{v:g}")
    spans = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)
    assert spans == ["perp:risk_pct=0.02,", "stop_atr=2", "perp:risk_pct=0.05,", "stop_atr=2"]
    assert "…" not in svg
