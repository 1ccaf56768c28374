"""StepTimeChart: every step's time per engine (the first, compiling step is left out)."""

from __future__ import annotations

from engines.pipelines.feed import INPUT_BOUND_SHARE

from ..live_model import DashboardModel
from ..palette import engine_color
from .braille_chart import BrailleChart, ChartSeries, legend_markup


class StepTimeChart(BrailleChart):
    """Step times by step or wall time; spikes above the robust cap are clipped to the top."""

    y_unit = "s"
    floor_zero = True
    empty_text = "step time: waiting for steps…"

    def show(self, model: DashboardModel, *, wall: bool) -> None:
        """Draw the model's step times."""
        series = [
            ChartSeries(n, t.label, engine_color(n, i),
                        t.time_by_wall if wall else t.time_by_step)
            for i, (n, t) in enumerate(model.tracks.items())
        ]
        x_max = model.wall_extent() if wall else model.step_extent()
        what = "Batch latency" if model.settings.task == "infer" else "Step time"
        self.border_title = f"{what} · by {'wall time' if wall else 'step'}"
        self.border_subtitle = legend_markup(series, overlap=False) + input_wait_markup(model)
        self.plot(series, x_max, revision=model.revision, x_unit="s" if wall else "step",
                  cap=model.step_time_cap())


def input_wait_markup(model: DashboardModel) -> str:
    """'  wait 42 %▲ 5 %' after the legend when an input pipeline feeds the steps: each
    engine's share of steady step time spent waiting for its batch, in its colour, marked ▲
    (in yellow) where that makes it input-bound; '' with batches in memory."""
    if model.settings.input_pipeline == "memory":
        return ""
    parts = []
    for i, (n, t) in enumerate(model.tracks.items()):
        share = t.input_wait_share
        if share is None:
            parts.append(f"[{engine_color(n, i)}]–[/]")
            continue
        mark = "[yellow]▲[/]" if share > INPUT_BOUND_SHARE else ""
        parts.append(f"[{engine_color(n, i)}]{share:.0%}[/]{mark}".replace("%", " %"))
    return "  [dim]wait[/] " + " ".join(parts)
