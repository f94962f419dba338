"""Charts drawn on the server as SVG: no script, no library, readable without colour
(each bar and point carries its figure as text and a ``<title>``), and scaled to fit."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 30, 28, 40
# Distinct in hue and in lightness, so they read in grey too.
SERIES_COLOURS = ("#1f4e8c", "#b3261e", "#1d7a46", "#8a5a00")
NICE_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
BAR_COLOURS = ("#7aa6d6", "#f2c14e", "#e8913a", "#d1603d", "#a4161a")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int  # minor units
    shown: str  # the value as text, in the currency's own decimals


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None where there is no figure (no sales, say)


def _svg(title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"'
        ' font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text is escaped


def bars(title: str, items: Sequence[Bar]) -> Markup:
    """A column per bucket, its height in proportion to the largest, its figure above."""
    top = max([b.value for b in items if b.value > 0], default=0) or 1
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(items), 1)
    body = [_axis(HEIGHT - BOTTOM)]
    for i, bar in enumerate(items):
        h = max(bar.value, 0) / top * plot_h
        x = LEFT + i * slot + slot * 0.15
        y = HEIGHT - BOTTOM - h
        colour = BAR_COLOURS[min(i, len(BAR_COLOURS) - 1)]
        label, shown = escape(bar.label), escape(bar.shown)
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}"'
            f' fill="{colour}"><title>{label}: {shown}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 6:.1f}" text-anchor="middle"'
            f' font-weight="600">{shown}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 18}"'
            f' text-anchor="middle" fill="#5b6675">{label}</text>'
        )
    return _svg(title, body)


def _axis(y: float) -> str:
    return (
        f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#aab3bf"'
        ' stroke-width="1"/>'
    )


def _scale(series: Sequence[Series]) -> float:
    """The top of the axis: four gridline steps of a round size (a NICE_STEPS times a
    power of ten) that hold the largest figure."""
    values = [v for s in series for v in s.values if v is not None]
    quarter = max(max(values, default=0.0), 10.0) / 4
    power = 10 ** math.floor(math.log10(quarter))
    step = next(m * power for m in NICE_STEPS if m * power >= quarter)
    return float(4 * step)


def lines(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> Markup:
    """A line per series over ``labels`` (months, say), with a gap where a figure is
    missing, gridlines at four levels and a legend."""
    top = _scale(series)
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    step = plot_w / max(len(labels) - 1, 1)

    def at(i: int, v: float) -> tuple[float, float]:
        return LEFT + i * step, HEIGHT - BOTTOM - v / top * plot_h

    body = _grid(top, unit)
    for i, label in enumerate(labels):
        body.append(
            f'<text x="{LEFT + i * step:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle"'
            f' fill="#5b6675" font-size="11">{escape(label)}</text>'
        )
    for n, s in enumerate(series):
        body.extend(_line(s, SERIES_COLOURS[n % len(SERIES_COLOURS)], at, unit))
        body.append(_legend(n, s.name, SERIES_COLOURS[n % len(SERIES_COLOURS)]))
    return _svg(title, body)


def _grid(top: float, unit: str) -> list[str]:
    out = []
    for k in range(5):
        v = top * k / 4
        y = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * k / 4
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"'
            f' stroke="{"#aab3bf" if k == 0 else "#e3e7ec"}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6675">'
            f"{v:g}{escape(unit)}</text>"
        )
    return out


Place = Callable[[int, float], tuple[float, float]]


def _line(s: Series, colour: str, place: Place, unit: str) -> list[str]:
    """The series' points, joined by a line except across a missing figure."""
    out: list[str] = []
    run: list[tuple[float, float]] = []
    for i, v in enumerate([*s.values, None]):
        if v is not None:
            run.append(place(i, v))
            x, y = place(i, v)
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(s.name)}: {v:.2f}{escape(unit)}</title></circle>"
            )
        elif run:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.insert(0, f'<polyline points="{points}" fill="none" stroke="{colour}"'
                       ' stroke-width="2"/>')  # fmt: skip
            run = []
    return out


def _legend(n: int, name: str, colour: str) -> str:
    x = LEFT + n * 170
    return (
        f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>'
        f'<text x="{x + 16}" y="14">{escape(name)}</text>'
    )
