"""SpeedupLine: which engine is faster per steady-state step, by how much, how sure."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..formatting import fmt_duration
from ..live_model import SpeedupView


def render_speedup(view: SpeedupView) -> Text:
    """'PyTorch is 1.50x faster per step than TensorFlow (95% CI 1.48-1.53)' and caveats."""
    out = Text.assemble(("Speed-up ", "bold"))
    if not view.available:
        out.append(view.reason or "—", "dim")
        return out
    out.append(f"{view.faster}", "bold")
    out.append(" is ")
    out.append(f"{view.ratio:.2f}×", "bold")
    out.append(f" faster per {view.per} than {view.slower}")
    what = "p50 latency, " if view.per == "batch" else ""  # inference: the median latency
    if view.ci95 is not None:
        lo, hi = view.ci95
        how = f", {view.pairs} pairs" if view.paired else ", unpaired"
        out.append(f" ({what}95% CI {lo:.2f}–{hi:.2f}{how})", "dim")
    elif not view.final:
        out.append(f" ({what}live medians; interval after 3 turn pairs)", "dim")
    elif what:
        out.append(" (p50 latency)", "dim")
    if view.confident_after_s is not None:
        out.append(f" ✓ confident ±{view.confidence_pct:g}% after "
                   f"{fmt_duration(view.confident_after_s)} measuring", "green")
    if view.doubts:
        out.append(" ⚠ in doubt (f: fairness)" if view.final else " ⚠ in doubt", "yellow")
    for label in view.partial:
        out.append(f" ⚠ {label} stopped early: steps done only", "yellow")
    if view.parity_failed:
        out.append(" ✗ parity failed: not the same work", "bold red")
    return out


class SpeedupLine(Widget):
    """One line with the speed-up verdict."""

    DEFAULT_CSS = "SpeedupLine { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: SpeedupView | None = None

    def show(self, view: SpeedupView) -> None:
        """Take a new view; refresh when it changed."""
        if view != self.view:
            self.view = view
            self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return Text("Speed-up —", style="dim")
        text = render_speedup(self.view)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
