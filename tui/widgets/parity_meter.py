"""ParityMeter: the loss difference between the engines, live, against its tolerance."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from ..formatting import fmt_sci
from ..live_model import ParityView

FLOOR = 1e-9  # the meter's left end: float32 noise is well below it


def meter_position(rel: float | None, tolerance: float, width: int) -> tuple[int, int]:
    """(filled cells, tolerance marker cell) on a log scale from FLOOR to 10x tolerance."""
    lo, hi = math.log10(FLOOR), math.log10(tolerance) + 1
    mark = int(round((math.log10(tolerance) - lo) / (hi - lo) * (width - 1)))
    if rel is None or rel <= 0:
        return 0, mark
    filled = int(math.ceil((min(max(math.log10(rel), lo), hi) - lo) / (hi - lo) * width))
    return max(1, min(width, filled)), mark


def _short(x: float) -> str:
    """'1e-4' rather than '1e-04': the meter line is tight at 80 columns."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")


def effective_rel(view: ParityView) -> float | None:
    """The difference to draw against the run tolerance: the early window's difference is
    scaled by how much stricter its bound is, so the marker means "limit" for both checks."""
    rel = view.max_rel
    if view.early_max_rel is not None and view.early_tolerance:
        early = view.early_max_rel * view.tolerance / view.early_tolerance
        rel = early if rel is None else max(rel, early)
    return rel


def render_parity(view: ParityView, width: int) -> Text:
    """One line: the relative loss difference (now and max), a meter, the verdict."""
    out = Text.assemble(("Parity   ", "bold"))
    if not view.available:
        out.append("needs two engines", "dim")
        return out
    if view.steps_compared == 0:
        out.append("waiting for both engines' first steps", "dim")
        return out
    out.append("rel. Δloss ", "dim")
    out.append(f"now {fmt_sci(view.last_rel)} · max {fmt_sci(view.max_rel)} ")
    if view.within is True:
        verdict, style = "✓ within", "green"
    elif view.nonfinite:
        verdict, style = "✗ non-finite loss", "bold red"
    else:
        verdict, style = "✗ MISMATCH", "bold red"
    early_tol = view.early_tolerance
    # The bounds are the precision's: named unless float32 (the default, and the tightest).
    named = "" if view.precision == "fp32" else f" {view.precision}"
    if early_tol is not None and early_tol != view.tolerance:
        # Early steps are held to the strict bound: show both, early first.
        tail = f"{named} tol {_short(early_tol)}→{_short(view.tolerance)} "
    else:
        tail = f"{named} tol {view.tolerance:.0e} "
    bar_w = width - out.cell_len - len(tail) - len(verdict) - 2
    if bar_w >= 6:
        filled, mark = meter_position(effective_rel(view), view.tolerance, bar_w)
        cells = ["▰" if i < filled else "▱" for i in range(bar_w)]
        bar = Text("▕")
        for i, ch in enumerate(cells):
            if i == mark:
                bar.append("┃", "bold")
            else:
                bar.append(ch, style if ch == "▰" else "dim")
        bar.append("▏")
        out.append_text(bar)
    out.append(tail, "dim")
    out.append(verdict, style)
    steps = f" ({view.steps_compared:,} steps)"
    if out.cell_len + len(steps) <= width:
        out.append(steps, "dim")
    return out


class ParityMeter(Widget):
    """One line on whether both engines compute the same thing."""

    DEFAULT_CSS = "ParityMeter { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: ParityView | None = None

    def show(self, view: ParityView) -> None:
        """Take a new view; refresh when it changed."""
        if view != self.view:
            self.view = view
            self.set_class(view.within is False, "-mismatch")
            self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return Text("Parity   —", style="dim")
        return render_parity(self.view, self.content_size.width)
