"""ScalingScreen: a --scaling run's samples/s against worker count for every engine, with the
ideal line (N x the one-worker figure), and the table of figures under it."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from engines.registry import engine_label

from ..formatting import fmt_count
from ..palette import engine_color
from ..safe_text import printable
from ..scaling_view import IDEAL, ScalingSeries, scaling_grid, scaling_series
from ..widgets.app_header import AppHeader
from ..widgets.key_footer import KeyFooter

KEY_HELP = [("escape / b", "back to the list of saved runs")]
PLOT_W, PLOT_H = 56, 12


def plot_text(series: list[ScalingSeries], width: int = PLOT_W,
              height: int = PLOT_H) -> Text:
    """The plot with its y-axis (samples/s) and x-axis (workers) labels, coloured by engine."""
    grid, top, counts = scaling_grid(series, width, height)
    colors = [engine_color(s.engine, i) for i, s in enumerate(series)]
    label_w = max(len(fmt_count(top)), 4)
    out = Text()
    for r, cells in enumerate(grid):
        label = fmt_count(top) if r == 0 else ("0" if r == len(grid) - 1 else "")
        out.append(f"{label:>{label_w}} │", "dim")
        for char, index in cells:
            style = "" if index < 0 else colors[index] + (" dim" if char == IDEAL else "")
            out.append(char, style)
        out.append("\n")
    out.append(" " * label_w + " └" + "─" * width + "\n", "dim")
    axis = [" "] * width
    for n in counts:
        x = 0 if counts[-1] == counts[0] else \
            round((n - counts[0]) / (counts[-1] - counts[0]) * (width - 1))
        for k, ch in enumerate(str(n)):
            if x + k < width:
                axis[x + k] = ch
    out.append(" " * (label_w + 2) + "".join(axis) + "  workers\n", "dim")
    for i, s in enumerate(series):
        out.append(f"  ● {printable(engine_label(s.engine), newlines=False)} measured",
                   colors[i])
        out.append(f"   {IDEAL} ideal", colors[i] + " dim")
    return out


def figures_table(kind: str, series: list[ScalingSeries]) -> Table:
    """Workers, samples/s, ideal and efficiency per engine."""
    eff = "strong eff" if kind == "global" else "weak eff"
    table = Table(box=None, padding=(0, 2, 0, 0))
    for title in ("engine", "workers", "samples/s", "ideal", eff):
        table.add_column(title, justify="left" if title == "engine" else "right")
    for s in series:
        for n, rate, ideal, e in zip(s.workers, s.rates, s.ideal, s.efficiency):
            table.add_row(printable(engine_label(s.engine), newlines=False), str(n),
                          fmt_count(rate), fmt_count(ideal),
                          "—" if e is None else f"{e:.0%}")
    return table


class ScalingScreen(Screen):
    """The scaling view of one results document (a --scaling run)."""

    BINDINGS = [Binding("escape,b", "back", "back", key_display="esc")]

    def __init__(self, doc: dict[str, Any], name: str = "") -> None:
        super().__init__()
        self.kind, self.series = scaling_series(doc)
        self.sub_title = f"scaling · {name}" if name else "scaling"

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(id="scaling-plot")
        yield Static(id="scaling-table")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        what = ("strong scaling: the global batch fixed, split over the workers"
                if self.kind == "global" else
                "weak scaling: each worker's batch fixed, the global batch grows")
        head = Text(f"samples/s against workers ({what}); measured on every replica and "
                    "added up\n\n", "dim")
        self.query_one("#scaling-plot", Static).update(head + plot_text(self.series))
        self.query_one("#scaling-table", Static).update(figures_table(self.kind, self.series))

    def action_back(self) -> None:
        self.app.pop_screen()
