"""StepTimeChart: every step's time per engine (the first, compiling step is left out)."""

from __future__ import annotations

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
        self.border_subtitle = legend_markup(series, overlap=False)
        self.plot(series, x_max, revision=model.revision, x_unit="s" if wall else "step",
                  cap=model.step_time_cap())
