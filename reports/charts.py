"""Chart geometry for server-rendered SVG: the templates draw, this module only measures.

No JavaScript and no CDN: a chart is a few SVG shapes whose coordinates are computed here, so
it prints, works offline and is readable without scripts (each chart has a data table too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ["#2457c5", "#b42318", "#1a7f45", "#9a5b00", "#6941c6", "#0e7490", "#4a5a8a"]


@dataclass(frozen=True)
class Frame:
    width: int = 640
    height: int = 220
    left: int = 40
    right: int = 12
    top: int = 10
    bottom: int = 28

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def right_edge(self) -> int:
        return self.width - self.right

    @property
    def baseline(self) -> int:
        return self.top + self.plot_height

    def x(self, index: int, count: int) -> float:
        if count <= 1:
            return self.left + self.plot_width / 2
        return round(self.left + self.plot_width * index / (count - 1), 1)

    def y(self, value: float, top_value: float) -> float:
        share = value / top_value if top_value else 0.0
        return round(self.baseline - self.plot_height * share, 1)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the outermost labels stay inside the frame


@dataclass(frozen=True)
class Line:
    name: str
    color: str
    segments: list[str]  # SVG polyline points ("x,y x,y …"); a gap (no data) splits the line
    dots: list[tuple[float, float, str]]  # x, y, tooltip
    latest: str


@dataclass(frozen=True)
class LineChart:
    frame: Frame
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def _anchor(index: int, count: int) -> str:
    if count > 1 and index == 0:
        return "start"
    return "end" if count > 1 and index == count - 1 else "middle"


def percent_line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    x_labels: Sequence[str],
    frame: Frame = Frame(),
) -> LineChart:
    """Lines of percentages (0–100) over shared x positions; None is a gap in a line."""
    count = len(x_labels)
    lines = []
    for index, (name, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        segments: list[str] = []
        current: list[str] = []
        dots = []
        for position, value in enumerate(values):
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            x, y = frame.x(position, count), frame.y(value, 100.0)
            current.append(f"{x},{y}")
            dots.append((x, y, f"{name}, {x_labels[position]}: {value:g}%"))
        if current:
            segments.append(" ".join(current))
        latest = next((f"{v:g}%" for v in reversed(values) if v is not None), "no data")
        lines.append(Line(name, color, segments, dots, latest))
    y_ticks = [Tick(frame.y(v, 100.0), f"{v}%") for v in (0, 25, 50, 75, 100)]
    step = max(1, -(-count // 7))  # at most about seven labels under the axis
    x_ticks = [
        Tick(frame.x(i, count), label, _anchor(i, count))
        for i, label in enumerate(x_labels)
        if i % step == 0 or i == count - 1
    ]
    return LineChart(frame, lines, y_ticks, x_ticks)


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Column:
    x: float
    width: float
    label: str
    total: int
    segments: list[Segment]

    @property
    def center(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class BarChart:
    frame: Frame
    columns: list[Column]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[int]]],
    layers: Sequence[tuple[str, str]],
    frame: Frame = Frame(),
) -> BarChart:
    """One column per row, its values stacked bottom-up in the order of `layers` (name, css)."""
    top_value = max((sum(values) for _, values in rows), default=0)
    # Whole-number gridlines, about four of them, with the scale rounded up to the last one.
    step = max(1, -(-top_value // 4))
    scale_top = max(step, step * -(-top_value // step))
    slot = frame.plot_width / max(len(rows), 1)
    width = round(slot * 0.7, 1)
    columns = []
    for index, (label, values) in enumerate(rows):
        x = round(frame.left + slot * index + (slot - width) / 2, 1)
        running = 0
        segments = []
        for (layer, css), value in zip(layers, values, strict=True):
            if value:
                upper = frame.y(running + value, scale_top)
                lower = frame.y(running, scale_top)
                segments.append(
                    Segment(upper, round(lower - upper, 1), css, f"{label}: {value} {layer}")
                )
            running += value
        columns.append(Column(x, width, label, sum(values), segments))
    y_ticks = [Tick(frame.y(v, scale_top), str(v)) for v in range(0, scale_top + 1, step)]
    return BarChart(frame, columns, y_ticks, list(layers))


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 24) -> str:
    """Polyline points for a small 0–100 trend; empty when there is nothing to draw."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return ""
    span = max(len(values) - 1, 1)
    return " ".join(
        f"{round(width * i / span, 1)},{round(height - height * v / 100.0, 1)}" for i, v in known
    )
