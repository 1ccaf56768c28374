"""LossChart: both engines' loss curves in one chart, by step or by wall time, linear or log."""

from __future__ import annotations

from ..live_model import DashboardModel
from ..palette import engine_color
from .braille_chart import BrailleChart, ChartSeries, legend_markup


class LossChart(BrailleChart):
    """Loss per step of every engine; where the curves coincide the dots are drawn as 'both'."""

    empty_text = "loss: waiting for the first step…"

    def show(self, model: DashboardModel, *, log: bool, wall: bool) -> None:
        """Draw the model's loss curves."""
        series = [
            ChartSeries(n, t.label, engine_color(n, i),
                        t.loss_by_wall if wall else t.loss_by_step)
            for i, (n, t) in enumerate(model.tracks.items())
        ]
        x_max = model.wall_extent() if wall else model.step_extent()
        self.border_title = f"Loss · {'log' if log else 'linear'} · by " \
                            f"{'wall time (incl. import and compile)' if wall else 'step'}"
        self.border_subtitle = legend_markup(series)
        self.plot(series, x_max, revision=model.revision, x_unit="s" if wall else "step",
                  log=log)
