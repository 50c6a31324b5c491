"""Tiny inline-SVG plotting: a line chart, a bar (rate) chart and a timeline of spans.

Each returns one `<svg>` string with no external references (no xmlns or xlink needed inline in
HTML5), so the report stays one offline file. Shaded bands (fault windows) sit under the data;
hover tooltips are SVG <title> elements, so no script is needed. All text goes through escape().
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from harness.report.analysis import Bucket, nice_ceil

LEFT, RIGHT, TOP, BOTTOM = 58, 16, 40, 34  # TOP leaves room for staggered band labels
GRID, INK, MUTED = "#e4e4e4", "#333", "#777"


@dataclass(frozen=True)
class Band:
    """A shaded x window (a fault), labelled at the top of the plot."""

    start: float
    end: float
    label: str
    colour: str = "#ffcc80"


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: Sequence[tuple[float, float | None]]  # None breaks the line (no data there)
    dashed: bool = False


@dataclass(frozen=True)
class Span:
    """One timeline row: a bar from start to end."""

    start: float
    end: float
    colour: str
    title: str
    hollow: bool = False  # drawn as an outline: unfinished


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class _Frame:
    """Maps data coordinates to pixels inside the margins."""

    def __init__(self, x_range: tuple[float, float], y_max: float, width: int, height: int):
        self.x0, self.x1 = x_range[0], max(x_range[1], x_range[0] + 1e-9)
        self.y_max = y_max if y_max > 0 else 1.0
        self.width, self.height = width, height
        self.left, self.right = LEFT, width - RIGHT
        self.top, self.bottom = TOP, height - BOTTOM

    def x(self, v: float) -> float:
        v = min(max(v, self.x0), self.x1)
        return self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - min(max(v, 0.0), self.y_max) / self.y_max * (self.bottom - self.top)


def _open(frame: _Frame, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" role="img" aria-label="{escape(title)}" '
        f'font-family="sans-serif" font-size="11"><title>{escape(title)}</title>'
    )


def _x_axis(frame: _Frame, label: str) -> str:
    step = nice_ceil((frame.x1 - frame.x0) / 8)
    parts = []
    tick = math.ceil(frame.x0 / step) * step
    while tick <= frame.x1 + 1e-9:
        x = _n(frame.x(tick))
        parts.append(
            f'<line x1="{x}" y1="{frame.top}" x2="{x}" y2="{frame.bottom}" stroke="{GRID}"/>'
            f'<text x="{x}" y="{frame.bottom + 14}" text-anchor="middle" fill="{MUTED}">'
            f"{_n(tick)}</text>"
        )
        tick += step
    parts.append(
        f'<line x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}" '
        f'stroke="{INK}"/><text x="{(frame.left + frame.right) / 2}" y="{frame.height - 4}" '
        f'text-anchor="middle" fill="{INK}">{escape(label)}</text>'
    )
    return "".join(parts)


def _y_axis(frame: _Frame, label: str, ticks: int = 4) -> str:
    parts = []
    for i in range(ticks + 1):
        value = frame.y_max * i / ticks
        y = _n(frame.y(value))
        parts.append(
            f'<line x1="{frame.left}" y1="{y}" x2="{frame.right}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{frame.left - 4}" y="{y}" dy="4" text-anchor="end" fill="{MUTED}">'
            f"{escape(f'{value:.3g}')}</text>"
        )
    parts.append(
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.bottom}" '
        f'stroke="{INK}"/><text transform="translate(12 {(frame.top + frame.bottom) / 2}) '
        f'rotate(-90)" text-anchor="middle" fill="{INK}">{escape(label)}</text>'
    )
    return "".join(parts)


def _bands(frame: _Frame, bands: Sequence[Band]) -> str:
    parts = []
    for i, band in enumerate(bands):
        x, x_end = frame.x(band.start), frame.x(max(band.end, band.start))
        w = max(x_end - x, 2.0)  # an instant fault (a kill) still shows
        label = escape(band.label)
        parts.append(
            f'<rect class="fault" x="{_n(x)}" y="{frame.top}" width="{_n(w)}" '
            f'height="{frame.bottom - frame.top}" fill="{escape(band.colour)}" '
            f'fill-opacity="0.45"><title>{label}</title></rect>'
            # Staggered so overlapping windows keep readable labels.
            f'<text class="fault-label" x="{_n(x + 2)}" y="{11 + 12 * (i % 3)}" fill="{INK}">'
            f"{label}</text>"
        )
    return "".join(parts)


def _y_ceiling(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    step = nice_ceil(top / 4) if top > 0 else 0.25
    return step * 4 if top > 0 else 1.0


def line_chart(
    series: Sequence[Series],
    *,
    x_range: tuple[float, float],
    bands: Sequence[Band] = (),
    y_label: str = "",
    x_label: str = "seconds since start",
    title: str = "",
    width: int = 960,
    height: int = 260,
) -> str:
    values = [y for s in series for _, y in s.points if y is not None]
    frame = _Frame(x_range, _y_ceiling(values), width, height)
    parts = [_open(frame, title or y_label), _bands(frame, bands)]
    parts += [_x_axis(frame, x_label), _y_axis(frame, y_label)]
    for s in series:
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append((frame.x(x), frame.y(y)))
        for run in runs:
            if len(run) == 1:
                px, py = run[0]
                parts.append(f'<circle cx="{_n(px)}" cy="{_n(py)}" r="2.5" fill="{s.colour}"/>')
            elif run:
                pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in run)
                parts.append(
                    f'<polyline points="{pts}" fill="none" stroke="{s.colour}" '
                    f'stroke-width="1.8"{dash}><title>{escape(s.name)}</title></polyline>'
                )
    return "".join(parts) + "</svg>"


def bar_chart(
    bars: Sequence[Bucket],
    *,
    x_range: tuple[float, float],
    colour: str = "#1565c0",
    bands: Sequence[Band] = (),
    y_label: str = "",
    x_label: str = "seconds since start",
    title: str = "",
    width: int = 960,
    height: int = 220,
) -> str:
    frame = _Frame(x_range, _y_ceiling([v for _, _, v in bars]), width, height)
    parts = [_open(frame, title or y_label), _bands(frame, bands)]
    parts += [_x_axis(frame, x_label), _y_axis(frame, y_label)]
    for start, end, value in bars:
        if value <= 0:
            continue
        x, y = frame.x(start), frame.y(value)
        w = max(frame.x(end) - x - 1, 1.0)
        parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(frame.bottom - y)}" '
            f'fill="{colour}"><title>{_n(start)}–{_n(end)} s: {value:.3g}/s</title></rect>'
        )
    return "".join(parts) + "</svg>"


def timeline(
    spans: Sequence[Span],
    *,
    x_range: tuple[float, float],
    bands: Sequence[Band] = (),
    x_label: str = "seconds since start",
    title: str = "timeline",
    width: int = 960,
) -> str:
    """One row per span, top to bottom; rows shrink (down to 2 px) as their number grows."""
    row = min(14.0, max(2.0, 600 / max(len(spans), 1)))
    height = int(TOP + BOTTOM + row * max(len(spans), 1) + 4)
    frame = _Frame(x_range, 1.0, width, height)
    parts = [_open(frame, title), _bands(frame, bands), _x_axis(frame, x_label)]
    gap = 1.0 if row >= 4 else 0.0
    for i, span in enumerate(spans):
        x = frame.x(span.start)
        w = max(frame.x(span.end) - x, 1.5)
        y = frame.top + 2 + i * row
        # An outline needs a few pixels of height to be seen; thin rows stay filled.
        paint = (
            f'fill="none" stroke="{span.colour}" stroke-dasharray="3 2"'
            if span.hollow and row >= 5
            else f'fill="{span.colour}"'
        )
        parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(row - gap)}" {paint}>'
            f"<title>{escape(span.title)}</title></rect>"
        )
    return "".join(parts) + "</svg>"
