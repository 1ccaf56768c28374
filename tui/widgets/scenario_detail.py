"""ScenarioDetail: what a scenario trains: data, layer table, optimiser, loss, cost per step."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engines.settings import RunSettings
from scenarios import Scenario, ScenarioError, flops_per_step, infer_stack, total_params

from ..formatting import fmt_flops, fmt_params, fmt_shape
from ..safe_text import plain


def describe_data(scenario: Scenario) -> str:
    """One line on the synthetic data: kind, samples, input shape, classes or outputs."""
    d = scenario.data
    target = f"{d.classes} classes" if d.kind != "regression" else f"{d.outputs or 1} output(s)"
    return f"{d.kind} · {d.samples:,} samples · input {fmt_shape(d.input_shape)} · {target}"


def describe_training(scenario: Scenario, settings: RunSettings | None) -> str:
    """Optimiser, learning rate, loss, batch and steps (the run's, where it overrides them)."""
    t = scenario.train
    batch = settings.batch_size if settings else t.batch_size
    steps = settings.steps if settings else t.steps
    return (f"{t.optimizer} lr {t.learning_rate:g} · loss {t.loss} · batch {batch} · "
            f"{steps:,} steps")


def layer_table(scenario: Scenario) -> Table:
    """Layers with their output shapes and parameter counts."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_footer=True,
                  header_style="bold", footer_style="bold")
    infos = infer_stack(scenario.layers, scenario.data.input_shape)
    table.add_column("#", justify="right", style="dim", footer="")
    table.add_column("layer", footer="total")
    table.add_column("output", footer="")
    table.add_column("params", justify="right", footer=fmt_params(total_params(infos)))
    table.add_row("", "input", fmt_shape(scenario.data.input_shape), "", style="dim")
    for i, info in enumerate(infos):
        table.add_row(str(i), info.layer.describe(), fmt_shape(info.output_shape),
                      fmt_params(info.params))
    return table


def cost_line(scenario: Scenario, settings: RunSettings | None) -> str:
    """Estimated FLOPs of one step at the run's batch size and task."""
    infos = infer_stack(scenario.layers, scenario.data.input_shape)
    batch = settings.batch_size if settings else scenario.train.batch_size
    train = (settings.task if settings else "train") == "train"
    flops = flops_per_step(infos, batch, train=train)
    what = "train step (forward + backward)" if train else "inference step (forward)"
    return f"≈ {fmt_flops(flops)} per {what} at batch {batch}"


class ScenarioDetail(VerticalScroll):
    """The picker's right-hand pane for the highlighted scenario."""

    def compose(self):
        yield Static(id="detail-body")

    def show(self, scenario: Scenario | None, settings: RunSettings | None = None,
             source_note: str = "") -> None:
        """Describe `scenario` (with the run's batch size and task, when known)."""
        body = self.query_one("#detail-body", Static)
        if scenario is None:
            self.border_title = "scenario"
            body.update(Text("No scenario matches the filter.", style="dim"))
            return
        self.border_title = plain(scenario.name)  # a Text: data, never markup
        parts: list = [plain(scenario.description, style="bold"), Text("")]
        label = Text.assemble(("data   ", "dim"), describe_data(scenario))
        parts.append(label)
        parts.append(Text.assemble(("train  ", "dim"), describe_training(scenario, settings)))
        try:
            parts.append(Text.assemble(("cost   ", "dim"), cost_line(scenario, settings)))
            parts += [Text(""), layer_table(scenario)]
        except ScenarioError as err:  # validated on load; kept for safety
            parts.append(Text(str(err), style="red"))
        if source_note:
            parts += [Text(""), Text(source_note, style="dim")]
        body.update(Group(*parts))
