"""Inline SVG charts for the HTML report: no JavaScript, no external files, deterministic text.

Every number is written with a fixed precision, so the same report gives byte-identical SVG.
All labels go through html.escape (names come from config). A line keeps at most MAX_POINTS
points whatever the window's length: `downsample` keeps, per time bucket, the first point and the
lowest and highest (so spikes and drawdowns survive), and the series' last point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from bot.reports.axes import log_ticks, nice_ticks

# One colour per vehicle label across the whole report (see `colour_map`); fee kinds use their
# own palette, the underlying is black and dashed.
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip
FEE_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#e15759", "#9c755f")
UNDERLYING = "#000000"
WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 28, 28
MAX_POINTS = 600
LOG_FLOOR = 1e-4  # a value at or below 0 on a log axis is drawn at this floor


@dataclass(frozen=True, slots=True)
class Line:
    """One series: `points` are (x, y) pairs, x ascending; `colour` a CSS colour."""

    label: str
    points: Sequence[tuple[float, float]]
    colour: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Stack:
    """One bar segment kind (e.g. a fee kind) with its value for every category."""

    label: str
    values: Sequence[float]
    colour: str


def colour_map(labels: Sequence[str]) -> dict[str, str]:
    """A colour per distinct label, in sorted label order (the same vehicle, the same colour
    in every chart and experiment; past ten labels the palette repeats)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def downsample(
    points: Sequence[tuple[float, float]], limit: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """At most about `limit` points: per bucket of equal x width the first, the lowest and
    the highest point (in x order), plus the last point."""
    if len(points) <= limit:
        return list(points)
    buckets = max(limit // 3, 1)
    x0, x1 = points[0][0], points[-1][0]
    width = (x1 - x0) / buckets or 1.0
    out: list[tuple[float, float]] = []
    group: list[tuple[float, float]] = []
    current = 0
    for point in points:
        index = min(int((point[0] - x0) / width), buckets - 1)
        if index != current and group:
            out += _extremes(group)
            group = []
        current = index
        group.append(point)
    out += _extremes(group)
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def _extremes(group: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    low = min(group, key=lambda p: p[1])
    high = max(group, key=lambda p: p[1])
    return sorted({group[0], low, high})


def line_chart(
    title: str,
    lines: Sequence[Line],
    x_ticks: Sequence[tuple[float, str]],
    y_format: Callable[[float], str],
    log_scale: bool = False,
) -> str:
    """A line chart; `x_ticks` are (x, label) pairs; `log_scale` draws y on a log10 axis
    (values <= LOG_FLOOR at the floor)."""
    drawn = [Line(ln.label, downsample(ln.points), ln.colour, ln.dashed) for ln in lines]
    xs = [x for x, _ in x_ticks] + [x for ln in drawn for x, _ in ln.points]
    ys = [y for ln in drawn for _, y in ln.points]
    if not ys:
        return _frame(title, '<text x="50%" y="50%" text-anchor="middle">no data</text>')
    if log_scale:
        ys = [max(y, LOG_FLOOR) for y in ys]
        ticks = log_ticks(min(ys), max(ys))
        ty: Callable[[float], float] = lambda v: math.log10(max(v, LOG_FLOOR))  # noqa: E731
    else:
        ticks = nice_ticks(min(ys), max(ys))
        ty = float
    sx = _scale(min(xs), max(xs), LEFT, WIDTH - RIGHT)
    scale_y = _scale(ty(ticks[0]), ty(ticks[-1]), HEIGHT - BOTTOM, TOP)
    body = [_y_axis(ticks, lambda v: scale_y(ty(v)), y_format), _x_axis(x_ticks, sx)]
    for ln in drawn:
        path = " ".join(f"{sx(x):.1f},{scale_y(ty(y)):.1f}" for x, y in ln.points)
        dash = ' stroke-dasharray="4 3"' if ln.dashed else ""
        body.append(
            f'<polyline fill="none" stroke="{ln.colour}" stroke-width="1.5"{dash} '
            f'points="{path}"><title>{escape(ln.label)}</title></polyline>'
        )
    return _frame(title, "".join(body))


def bar_chart(
    title: str, categories: Sequence[str], stacks: Sequence[Stack], x_format: Callable[[float], str]
) -> str:
    """Horizontal stacked bars, one per category (its full name, wrapped, never cut);
    negative values stack left of zero."""
    lows = [sum(min(s.values[i], 0.0) for s in stacks) for i in range(len(categories))]
    highs = [sum(max(s.values[i], 0.0) for s in stacks) for i in range(len(categories))]
    ticks = nice_ticks(min(lows + [0.0]), max(highs + [0.0]))
    left = LEFT + 120  # room for the category names
    band = 34.0
    height = TOP + BOTTOM + band * max(len(categories), 1)
    sx = _scale(ticks[0], ticks[-1], left, WIDTH - RIGHT)
    body = [_x_value_axis(ticks, sx, x_format, left, height)]
    for i, name in enumerate(categories):
        y = TOP + i * band + band * 0.2
        body.append(_category_label(name, left - 6, y + band * 0.3))
        pos = neg = 0.0
        for stack in stacks:
            value = stack.values[i]
            if value == 0:
                continue
            start = pos if value > 0 else neg + value
            pos, neg = (pos + value, neg) if value > 0 else (pos, neg + value)
            x0, x1 = sx(start), sx(start + abs(value))
            body.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{band * 0.6:.1f}" '
                f'fill="{stack.colour}"><title>{escape(name)}: '
                f"{escape(stack.label)} {escape(x_format(value))}</title></rect>"
            )
    return _frame(title, "".join(body), height)


def _category_label(name: str, x: float, y: float) -> str:
    # The whole name on up to three lines, broken after ':' or ',' where it is too long.
    lines = _wrap(name, 18)
    first = y - (len(lines) - 1) * 6
    spans = "".join(
        f'<tspan x="{x}" y="{first + 12 * i:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text text-anchor="end" dominant-baseline="middle" font-size="10">{spans}</text>'


def _wrap(text: str, width: int) -> list[str]:
    parts: list[str] = []
    for char in text:
        if parts and len(parts[-1]) < width:
            parts[-1] += char
        elif parts and char not in ":,":
            parts.append(char)
        elif parts:
            parts[-1] += char
        else:
            parts.append(char)
        if char in ":," and len(parts[-1]) >= width // 2:
            parts.append("")
    return [p for p in parts if p]


def _frame(title: str, body: str, height: float = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="{WIDTH}" height="{height:.0f}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">'
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
        f"{body}</svg>"
    )


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = hi - lo if hi != lo else 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def _y_axis(
    ticks: Sequence[float], sy: Callable[[float], float], fmt: Callable[[float], str]
) -> str:
    parts = []
    for t in ticks:
        y = sy(t)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(fmt(t))}</text>"
        )
    return "".join(parts)


def _x_axis(ticks: Sequence[tuple[float, str]], sx: Callable[[float], float]) -> str:
    base = HEIGHT - BOTTOM
    parts = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#888"/>']
    for x, label in ticks:
        parts.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{base}" y2="{base + 4}" stroke="#888"/>'
            f'<text x="{sx(x):.1f}" y="{base + 15}" text-anchor="middle">{escape(label)}</text>'
        )
    return "".join(parts)


def _x_value_axis(
    ticks: Sequence[float],
    sx: Callable[[float], float],
    fmt: Callable[[float], str],
    left: float,
    height: float,
) -> str:
    base = height - BOTTOM
    parts = [f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#888"/>']
    for t in ticks:
        x = sx(t)
        colour = "#888" if t == 0 else "#ddd"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base}" stroke="{colour}"/>'
            f'<text x="{x:.1f}" y="{base + 15}" text-anchor="middle">{escape(fmt(t))}</text>'
        )
    return "".join(parts)


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend (it wraps, unlike SVG text) of (label, colour) pairs."""
    entries = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{escape(label)}</li>'
        for label, colour in items
    )
    return f'<ul class="legend">{entries}</ul>'
