"""ScenarioDetail: what a scenario trains: data, layer table, optimiser, loss, cost per step."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engines.settings import RunSettings
from scenarios import (
    LayerInfo,
    Scenario,
    ScenarioError,
    flops_per_step,
    infer_stack,
    loss_floor,
    total_params,
)
from scenarios.budget import CPU_FLOPS_PER_THREAD, LONG_RUN_S, estimate

from ..formatting import fmt_bytes, fmt_duration, fmt_flops, fmt_params, fmt_shape
from ..safe_text import plain


def describe_data(scenario: Scenario) -> str:
    """One line on the synthetic data: kind, samples, input shape, classes or outputs."""
    d = scenario.data
    if d.kind == "tokens":
        return (f"tokens · {d.samples:,} sequences of {d.input_shape[0]} · vocab {d.vocab} · "
                "next-token targets")
    target = f"{d.classes} classes" if d.kind != "regression" else f"{d.outputs or 1} output(s)"
    return f"{d.kind} · {d.samples:,} samples · input {fmt_shape(d.input_shape)} · {target}"


def floor_line(scenario: Scenario, settings: RunSettings | None) -> str | None:
    """The loss a model can approach on this data, where known (token data: the entropy rate
    of its Markov chain, for the run's data seed)."""
    floor = loss_floor(scenario.data, settings.seed if settings else None)
    return None if floor is None else f"loss floor (entropy rate) {floor:.3f} nats"


def describe_training(scenario: Scenario, settings: RunSettings | None) -> str:
    """Optimiser, learning rate, loss, batch and steps (the run's, where it overrides them)."""
    t = scenario.train
    batch = settings.batch_size if settings else t.batch_size
    steps = settings.steps if settings else t.steps
    return (f"{t.optimizer} lr {t.learning_rate:g} · loss {t.loss} · batch {batch} · "
            f"{steps:,} steps")


def layer_rows(infos: list[LayerInfo] | tuple[LayerInfo, ...],
               depth: int = 0) -> list[tuple[str, int, LayerInfo, int, int]]:
    """(number, depth, layer, own params, own FLOPs) for every layer, a block's inner layers
    right after it, one level deeper. A row counts what its layer adds itself (a block: its
    shortcut and sum), so the rows add up to the model's totals."""
    rows = []
    for i, info in enumerate(infos):
        params = info.params - sum(inner.params for inner in info.inner)
        flops = info.flops - sum(inner.flops for inner in info.inner)
        rows.append((str(i) if depth == 0 else "", depth, info, params, flops))
        rows += layer_rows(info.inner, depth + 1)
    return rows


def layer_table(scenario: Scenario) -> Table:
    """Layers (blocks' inner layers indented) with output shapes, parameters and forward
    FLOPs per sample."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_footer=True,
                  header_style="bold", footer_style="bold")
    infos = infer_stack(scenario.layers, scenario.data.input_shape)
    table.add_column("#", justify="right", style="dim", footer="")
    table.add_column("layer", footer="total")
    # Counts never wrap; a narrow pane wraps descriptions and shapes instead.
    table.add_column("output", footer="")
    table.add_column("params", justify="right", footer=fmt_params(total_params(infos)),
                     no_wrap=True)
    table.add_column("FLOPs", justify="right", footer=fmt_count(sum(i.flops for i in infos)),
                     no_wrap=True)
    table.add_row("", "input", fmt_shape(scenario.data.input_shape), "", "", style="dim")
    for number, depth, info, params, flops in layer_rows(infos):
        name = "  " * (depth - 1) + "└ " + info.layer.describe() if depth else \
            info.layer.describe()
        table.add_row(number, name, fmt_shape(info.output_shape), fmt_params(params),
                      fmt_count(flops))
    return table


def fmt_count(flops: int) -> str:
    """A FLOP count in a narrow column: '1.2M' (the header says FLOPs)."""
    return fmt_flops(flops).replace(" ", "").removesuffix("FLOP")


def cost_line(scenario: Scenario, settings: RunSettings | None) -> str:
    """Estimated FLOPs of one step at the run's batch size and task."""
    infos = infer_stack(scenario.layers, scenario.data.input_shape)
    batch = settings.batch_size if settings else scenario.train.batch_size
    train = (settings.task if settings else "train") == "train"
    flops = flops_per_step(infos, batch, train=train)
    what = "train step (forward + backward)" if train else "inference step (forward)"
    return f"≈ {fmt_flops(flops)} per {what} at batch {batch}"


def memory_line(scenario: Scenario, settings: RunSettings) -> str:
    """The run's estimated memory (scenarios.budget), and its time when that is hours. (Whether
    it fits this machine is the settings' check: SettingsDraft.resolve.)"""
    budget = estimate(scenario, settings.batch_size, settings.steps, settings.task)
    text = f"≈ {fmt_bytes(budget.total)} for both engines"
    seconds = budget.seconds(settings.threads)
    if settings.device == "cpu" and seconds >= LONG_RUN_S:
        text += (f", ≈ {fmt_duration(seconds)} to run at "
                 f"{CPU_FLOPS_PER_THREAD / 1e9:g} GFLOP/s per thread")
    return text


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
        floor = floor_line(scenario, settings)
        if floor:
            parts.append(Text.assemble(("       ", "dim"), floor))
        parts.append(Text.assemble(("train  ", "dim"), describe_training(scenario, settings)))
        try:
            parts.append(Text.assemble(("cost   ", "dim"), cost_line(scenario, settings)))
            if settings is not None:  # else the settings form says why they do not fit
                parts.append(Text.assemble(("memory ", "dim"), memory_line(scenario, settings)))
            parts += [Text(""), layer_table(scenario)]
        except ScenarioError as err:  # validated on load; kept for safety
            parts.append(Text(str(err), style="red"))
        if source_note:
            parts += [Text(""), Text(source_note, style="dim")]
        body.update(Group(*parts))
