"""EngineColumn: one engine's stage, progress, loss, step time, throughput and memory."""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.widget import Widget

from engines.efficiency import flops_rate_text
from engines.pipelines.feed import INPUT_BOUND_SHARE

from ..formatting import DASH, fmt_bytes, fmt_count, fmt_duration, fmt_eta, fmt_value, progress_bar
from ..live_model import EngineView
from ..safe_text import plain, printable

# Lifecycle stage (or final status) -> (glyph, style). Stages not listed are "in progress" ones.
STAGE_LOOK = {
    "waiting": ("○", "dim"),
    "pending": ("○", "dim"),
    "running": ("●", "green"),
    "done": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "unavailable": ("✗", "bold red"),
    "cancelled": ("⊘", "bold yellow"),
}
BUSY = ("◐", "yellow")


def status_line(view: EngineView) -> Text:
    """'● running · step 120/300' with the stage in its colour."""
    glyph, style = STAGE_LOOK.get(view.stage, BUSY)
    line = Text.assemble((f"{glyph} {view.stage}", style))
    if view.steps_done > view.steps_total:  # paired turns go on while the other needs them
        line.append(f" · step {view.steps_done:,} ({view.steps_total:,}+, paired)", "dim")
    else:
        line.append(f" · step {view.steps_done:,}/{view.steps_total:,}", "dim")
    return line


def progress_line(view: EngineView, width: int) -> Text:
    """Progress bar, percentage and ETA (or the end state)."""
    pct = 0 if view.steps_total <= 0 else min(100, int(100 * view.steps_done / view.steps_total))
    if view.status in ("pending", "running") and view.steps_done >= view.steps_total:
        tail = f" {pct:3d}% pairing"  # its steps are done; its turns pair the other engine's
    elif view.status in ("pending", "running"):
        tail = f" {pct:3d}% ETA {fmt_eta(view.eta_s)}"
    else:
        tail = f" {pct:3d}% {view.status}"
    bar_w = max(4, width - len(tail))
    _, style = STAGE_LOOK.get(view.status if view.status != "running" else view.stage, BUSY)
    if view.status == "running":
        style = "green" if view.stage == "running" else "yellow"
    return Text.assemble((progress_bar(view.steps_done, view.steps_total, bar_w), style),
                         (tail, "dim"))


Cell = tuple[str, str, str]  # (label, value, style)


def figure_rows(view: EngineView, wide: bool = False) -> list[tuple[Cell, Cell]]:
    """Pairs of (label, value, style) laid out as a two-column grid.

    Training shows the median step time and its IQR; inference shows the per-batch latency
    percentiles (p50 = the median) and throughput, the figures serving is judged by. `wide`:
    there is room for longer labels.
    """
    # A wide spread is information about this engine's step times; whether it puts the verdict
    # in doubt is the speed-up line's to say (paired turns).
    median = fmt_duration(view.median_s)
    warn = ""
    if view.task == "infer":
        lat = " latency" if wide else ""
        return [
            (("loss", fmt_value(view.loss), "bold"), (f"p50{lat}", median, warn)),
            (("samples/s", fmt_count(view.samples_per_s), "bold"),
             (f"p90{lat}", fmt_duration(view.p90_s), "")),
            (("first batch", fmt_duration(view.first_step_s), ""),
             (f"p99{lat}", fmt_duration(view.p99_s), "")),
            (("IQR", fmt_duration(view.iqr_s), warn),
             ("peak RSS", fmt_bytes(view.peak_rss), "")),
        ]
    return [
        (("loss", fmt_value(view.loss), "bold"), ("median", median, warn)),
        (("samples/s", fmt_count(view.samples_per_s), ""),
         ("IQR", fmt_duration(view.iqr_s), warn)),
        (("first step", fmt_duration(view.first_step_s), ""),
         ("peak RSS", fmt_bytes(view.peak_rss), "")),
    ]


def held_out_line(view: EngineView) -> Text:
    """The latest evaluation on the held-out batches: accuracy (classification), loss, and
    the step it followed."""
    line = Text("held-out ", style="dim")
    ev = view.held_out
    if ev is None:
        line.append("waiting for the first evaluation", "dim")
        return line
    if ev.accuracy is not None:
        line.append("acc ", "dim")
        line.append(f"{ev.accuracy:.1%}", "bold")
        line.append("  ")
    line.append("loss ", "dim")
    line.append(fmt_value(ev.loss))
    line.append(f"  @ step {ev.step:,}", "dim")
    return line


def efficiency_line(view: EngineView, width: int = 80) -> Text:
    """'54.2 GFLOP/s · 92 % of measured peak' (and the datasheet's share on a known GPU, where
    there is room); why there is no share when there is none."""
    rate = flops_rate_text(view.achieved_flops, f"{DASH} FLOP/s")
    line = Text(rate, "bold" if view.achieved_flops is not None else "dim")
    if view.simulated:
        line.append(" (simulated)", "dim")
    elif view.share_of_peak is not None:
        share = f" · {view.share_of_peak:.0%}".replace("%", " %")
        tail = share + " of measured peak"
        if len(rate) + len(tail) > width:
            tail = share + " of peak"
        line.append(tail)
        if view.datasheet_share is not None and view.datasheet_model:
            extra = f" · {view.datasheet_share:.0%} of {view.datasheet_model} datasheet"
            if line.cell_len + len(extra) <= width:
                line.append(extra.replace("%", " %"), "dim")
    elif view.peak_note:
        line.append(f" · {view.peak_note}", "dim")
    return line


def input_line(view: EngineView) -> Text:
    """'input-bound: wait 42 % · first batch 2 s · loader 19k/s' (or 'input wait 5 % · ...')
    for a run fed by an input pipeline: the share of steady step time spent waiting for
    input, the first batch (worker start-up included) and the loader alone."""
    share = view.input_wait_share
    bound = share is not None and share > INPUT_BOUND_SHARE
    line = Text("input-bound: wait " if bound else "input wait ", "yellow" if bound else "dim")
    if share is None:
        line.append(DASH, "dim")
    else:
        line.append(f"{share:.0%}".replace("%", " %"), "bold yellow" if bound else "bold")
    if view.input_first_batch_s is not None:
        line.append(f" · first batch {fmt_duration(view.input_first_batch_s)}", "dim")
    if view.loader_samples_per_s is not None:
        line.append(f" · loader {fmt_count(view.loader_samples_per_s)}/s", "dim")
    return line


def note_line(view: EngineView, width: int = 80) -> Text:
    """The error when the engine failed; otherwise import/build times (and a caveat)."""
    if view.error and view.status in ("failed", "unavailable"):
        return plain(view.error, style="red")
    if view.status == "cancelled":
        return Text("cancelled: figures cover the steps done before", style="yellow")
    imported = f"import {fmt_duration(view.import_s)}"
    rest = [f"build {fmt_duration(view.build_s)}"]
    if view.device_peak is not None:
        rest.append(f"device peak {fmt_bytes(view.device_peak)}")
    if view.prewarmed:  # paid while the user was choosing, before the run started
        long = " · ".join([imported + " (pre-warmed)", *rest])
        imported += " (pre-warmed)" if len(long) <= width else " (warm)"
    text = Text(" · ".join([imported, *rest]), style="dim")
    return text


def render_view(view: EngineView, width: int) -> Text:
    """The whole column as lines `width` cells wide (an error wraps, up to 4 lines)."""
    width = max(24, width)
    lines: list[Text] = []
    top = status_line(view)
    version = printable(view.version, newlines=False) if view.version else ""
    if version and top.cell_len + len(version) + 2 <= width:
        top.append(" " * (width - top.cell_len - len(version)))
        top.append(version, "dim")
    lines.append(top)
    lines.append(progress_line(view, width))
    left_w = (width - 2) // 2
    right_w = width - 2 - left_w
    for left, right in figure_rows(view, wide=right_w >= 22):
        line = Text()
        for k, ((label, value, style), w) in enumerate(((left, left_w), (right, right_w))):
            value = value or DASH
            line.append(label, "dim")
            line.append(" " * max(1, w - len(label) - len(value)))
            line.append(value, style)
            if k == 0:
                line.append("  ")
        lines.append(line)
    lines.append(efficiency_line(view, width))
    if view.replicas:
        lines.append(Text(printable(view.replicas, newlines=False), style="dim"))
    if view.evaluates:
        lines.append(held_out_line(view))
    if view.input_pipeline != "memory":
        lines.append(input_line(view))
    note = note_line(view, width)
    if view.error and view.status in ("failed", "unavailable"):
        wrapped = textwrap.wrap(note.plain, width) or [""]
        if len(wrapped) > 4:
            wrapped = wrapped[:3] + [wrapped[3][: width - 1] + "…"]
        lines += [Text(w, style="red") for w in wrapped]
    else:
        lines.append(note)
    out = Text("\n").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


class EngineColumn(Widget):
    """A bordered column for one engine; redraws only when its view changes."""

    def __init__(self, name: str, label: str, color: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = name
        self.view: EngineView | None = None
        self.border_title = f"[bold {color}]{label}[/]"

    def show(self, view: EngineView) -> None:
        """Take a new view; refresh if anything on it changed."""
        if view != self.view:
            # Height follows the content only when the note line can wrap (an error).
            # (and when a replica line comes or goes).
            relayout = self.view is None or (view.status, view.error, bool(view.replicas)) != (
                self.view.status, self.view.error, bool(self.view.replicas))
            self.view = view
            self.set_class(view.status in ("failed", "unavailable"), "-failed")
            self.set_class(view.status == "done", "-done")
            self.refresh(layout=relayout)

    def render(self) -> Text:
        if self.view is None:
            return Text("waiting…", style="dim")
        return render_view(self.view, self.content_size.width)
