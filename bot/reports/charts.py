"""Inline SVG charts for the HTML report: no JavaScript, no external files, deterministic text.

Every number is written with a fixed precision, so the same report gives byte-identical SVG.
All labels go through html.escape (names come from config).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 28, 28


@dataclass(frozen=True, slots=True)
class Line:
    """One series: `points` are (x, y) pairs, x ascending."""

    label: str
    points: Sequence[tuple[float, float]]
    colour: int = 0


@dataclass(frozen=True, slots=True)
class Stack:
    """One bar segment kind (e.g. a fee kind) with its value for every category."""

    label: str
    values: Sequence[float]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high - low < 1e-12:
        low, high = low - max(abs(low) * 0.01, 1e-6), high + max(abs(high) * 0.01, 1e-6)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - 1e-12 or len(ticks) < 2:
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def line_chart(
    title: str,
    lines: Sequence[Line],
    x_ticks: Sequence[tuple[float, str]],
    y_format: Callable[[float], str],
) -> str:
    """A line chart with a legend; `x_ticks` are (x, label) pairs that also fix the x range."""
    xs = [x for x, _ in x_ticks] + [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points]
    if not ys:
        return _frame(title, '<text x="50%" y="50%" text-anchor="middle">no data</text>')
    ticks = nice_ticks(min(ys), max(ys))
    sx = _scale(min(xs), max(xs), LEFT, WIDTH - RIGHT)
    sy = _scale(ticks[0], ticks[-1], HEIGHT - BOTTOM, TOP)
    body = [_y_axis(ticks, sy, y_format), _x_axis(x_ticks, sx)]
    for line in lines:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line.points)
        colour = PALETTE[line.colour % len(PALETTE)]
        body.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{path}">'
            f"<title>{escape(line.label)}</title></polyline>"
        )
    return _frame(title, "".join(body))


def bar_chart(
    title: str, categories: Sequence[str], stacks: Sequence[Stack], x_format: Callable[[float], str]
) -> str:
    """Horizontal stacked bars, one per category; negative values stack left of zero."""
    lows = [sum(min(s.values[i], 0.0) for s in stacks) for i in range(len(categories))]
    highs = [sum(max(s.values[i], 0.0) for s in stacks) for i in range(len(categories))]
    ticks = nice_ticks(min(lows + [0.0]), max(highs + [0.0]))
    left = LEFT + 96  # room for the category names
    sx = _scale(ticks[0], ticks[-1], left, WIDTH - RIGHT)
    band = (HEIGHT - TOP - BOTTOM) / max(len(categories), 1)
    body = [_x_value_axis(ticks, sx, x_format, left)]
    for i, name in enumerate(categories):
        y = TOP + i * band + band * 0.2
        body.append(
            f'<text x="{left - 6}" y="{y + band * 0.4:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_clip(name, 16))}<title>{escape(name)}</title>'
            "</text>"
        )
        pos = neg = 0.0
        for j, stack in enumerate(stacks):
            value = stack.values[i]
            if value == 0:
                continue
            start = pos if value > 0 else neg + value
            pos, neg = (pos + value, neg) if value > 0 else (pos, neg + value)
            x0, x1 = sx(start), sx(start + abs(value))
            body.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{band * 0.6:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)}: '
                f"{escape(stack.label)} {escape(x_format(value))}</title></rect>"
            )
    return _frame(title, "".join(body))


def _frame(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
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
    ticks: Sequence[float], sx: Callable[[float], float], fmt: Callable[[float], str], left: float
) -> str:
    base = HEIGHT - BOTTOM
    parts = [f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#888"/>']
    for t in ticks:
        x = sx(t)
        colour = "#888" if t == 0 else "#ddd"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base}" stroke="{colour}"/>'
            f'<text x="{x:.1f}" y="{base + 15}" text-anchor="middle">{escape(fmt(t))}</text>'
        )
    return "".join(parts)


def legend(labels: Sequence[str]) -> str:
    """An HTML legend (it wraps, unlike SVG text): colour i of the palette for label i."""
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
        f"{escape(label)}</li>"
        for i, label in enumerate(labels)
    )
    return f'<ul class="legend">{items}</ul>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
