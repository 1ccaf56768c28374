"""BrailleChart: the line chart both dashboard charts are made of (braille dots, 2x4 a cell).

Each redraw reduces every series to two columns per cell from its bounded downsampler and
draws min/max envelopes, so the cost depends on the widget's size, not on the steps recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from ..braille import BOTH, NONE, YScale, plot_rows, y_scale
from ..downsample import MinMaxDownsampler
from ..formatting import fmt_duration, fmt_value
from ..palette import BOTH_COLOR

GUTTER = 9  # y-axis labels


@dataclass(frozen=True)
class ChartSeries:
    """One curve: whose it is, its colour, and its downsampled points."""

    name: str
    label: str
    color: str
    sampler: MinMaxDownsampler


def legend_markup(series: list[ChartSeries], overlap: bool = True) -> str:
    """'━ PyTorch ━ TensorFlow ━ both' in the series' colours (Textual markup)."""
    parts = [f"[{s.color}]━[/] {s.label}" for s in series]
    if overlap and len(series) > 1:
        parts.append(f"[{BOTH_COLOR}]━[/] both")
    return "  ".join(parts)


def axis_label(value: float, unit: str) -> str:
    """A y-axis or x-axis tick label."""
    if value == 0:
        return "0"
    if unit == "s":
        return fmt_duration(value)
    if unit == "step":
        return f"{value:,.0f}"
    return fmt_value(value, 3)


class BrailleChart(Widget):
    """A multi-series braille line chart with y labels on the left and x labels below."""

    DEFAULT_CSS = """
    BrailleChart { height: 1fr; }
    """

    y_unit = ""  # "s" for durations, "" for plain values
    floor_zero = False
    empty_text = "waiting for the first step…"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series: list[ChartSeries] = []
        self.x_min = 0.0
        self.x_max = 1.0
        self.x_unit = "step"
        self.log_scale = False
        self.cap: float | None = None
        self.revision = -1
        self._key: tuple | None = None
        self._strips: list[Strip] = []
        self._styles = {NONE: Style(), BOTH: Style(color=BOTH_COLOR)}
        self._dim = Style(dim=True)
        self.draw_count = 0  # how many times the plot was rebuilt (for tests and benchmarks)

    def plot(self, series: list[ChartSeries], x_max: float, *, revision: int,
             x_unit: str = "step", log: bool = False, cap: float | None = None) -> None:
        """Set what to draw; the chart is rebuilt on the next frame if anything changed."""
        self.series = series
        self.x_max = max(x_max, 1e-9)
        self.x_unit = x_unit
        self.log_scale = log
        self.cap = cap
        for i, s in enumerate(series):
            self._styles[i] = Style(color=s.color)
        if revision != self.revision or self._key is None or \
                self._key[2:5] != (x_unit, log, cap):
            self.revision = revision
            self.refresh()

    def _build(self, width: int, height: int) -> list[Strip]:
        self.draw_count += 1
        plot_w, plot_h = width - GUTTER, height - 1
        if plot_w < 4 or plot_h < 1:
            return [Strip([Segment("(too small)"[:width], self._dim)])] + \
                [Strip.blank(width)] * (height - 1)
        ranges = [r for r in (s.sampler.y_range() for s in self.series) if r is not None]
        scale = y_scale(ranges, self.log_scale, self.cap, self.floor_zero)
        if scale is None:
            return self._empty(width, height)
        cols = [s.sampler.columns(2 * plot_w, self.x_min, self.x_max) for s in self.series]
        rows = plot_rows(cols, plot_w, plot_h, scale)
        labels = self._y_labels(scale, plot_h)
        strips = []
        for r, runs in enumerate(rows):
            segs = [Segment(labels.get(r, "").rjust(GUTTER - 1)[: GUTTER - 1] + "┤"
                            if r in labels else " " * (GUTTER - 1) + "│", self._dim)]
            segs += [Segment(text, self._styles.get(owner, self._styles[NONE]))
                     for text, owner in runs]
            strips.append(Strip(segs, width))
        strips.append(Strip([Segment(self._x_labels(plot_w), self._dim)], width))
        return strips

    def _empty(self, width: int, height: int) -> list[Strip]:
        lines = [Strip.blank(width)] * height
        mid = (height - 1) // 2
        text = self.empty_text[:width].center(width)
        lines[mid] = Strip([Segment(text, self._dim)], width)
        return lines

    def _y_labels(self, scale: YScale, plot_h: int) -> dict[int, str]:
        unit = "s" if self.y_unit == "s" else ""
        labels = {0: axis_label(scale.value_at(1.0), unit)}
        if plot_h >= 2:
            labels[plot_h - 1] = axis_label(scale.value_at(0.0), unit)
        if plot_h >= 5:
            m = (plot_h - 1) // 2
            labels[m] = axis_label(scale.value_at(1 - (m + 0.5) / plot_h), unit)
        return labels

    def _x_labels(self, plot_w: int) -> str:
        unit = "s" if self.x_unit == "s" else "step"
        left = axis_label(self.x_min, unit)
        right = axis_label(self.x_max, unit)
        mid = axis_label((self.x_min + self.x_max) / 2, unit)
        line = [" "] * plot_w
        for pos, text in ((0, left), (plot_w - len(right), right),
                          (plot_w // 2 - len(mid) // 2, mid)):
            if plot_w >= len(left) + len(mid) + len(right) + 4 or text is not mid:
                for i, ch in enumerate(text):
                    if 0 <= pos + i < plot_w:
                        line[pos + i] = ch
        return " " * GUTTER + "".join(line)

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size.width, self.content_size.height
        base = self.rich_style  # the widget's colours, under the chart's own
        key = (self.revision, (width, height), self.x_unit, self.log_scale, self.cap, base)
        if key != self._key:
            strips = self._build(width, height) if width > 0 and height > 0 else []
            self._strips = [strip.apply_style(base) for strip in strips]
            self._key = key
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width)
