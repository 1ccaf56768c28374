"""ParityMeter: the loss difference between the engines, live, against its tolerance.

Exact parity compares the losses step by step; with dropout active the check is statistical
(smoothed curves within a band) and the line says so, never "within tolerance".
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from ..formatting import fmt_sci
from ..live_model import ParityView

FLOOR = 1e-9  # the meter's left end: float32 noise is well below it
# The statistical meter's left end, relative to its band: mask noise lives within two decades.
STATISTICAL_DECADES = 3


def meter_position(rel: float | None, tolerance: float, width: int,
                   floor: float = FLOOR) -> tuple[int, int]:
    """(filled cells, tolerance marker cell) on a log scale from `floor` to 10x tolerance."""
    lo, hi = math.log10(floor), math.log10(tolerance) + 1
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


def _bar(rel: float | None, tolerance: float, width: int, style: str,
         floor: float = FLOOR) -> Text:
    """The meter: filled cells up to `rel` on a log scale, the tolerance marked '┃'."""
    filled, mark = meter_position(rel, tolerance, width, floor)
    cells = ["▰" if i < filled else "▱" for i in range(width)]
    bar = Text("▕")
    for i, ch in enumerate(cells):
        if i == mark:
            bar.append("┃", "bold")
        else:
            bar.append(ch, style if ch == "▰" else "dim")
    bar.append("▏")
    return bar


def _close(out: Text, width: int, meter: tuple[float | None, float, float], tail: str,
           verdict: tuple[str, str], steps: str) -> Text:
    """The line's end: the meter (difference, tolerance, floor) where it has room, the
    tolerance words, the verdict, and the steps compared where they fit."""
    words, style = verdict
    bar_w = width - out.cell_len - len(tail) - len(words) - 2
    if bar_w >= 6:
        rel, tolerance, floor = meter
        out.append_text(_bar(rel, tolerance, bar_w, style, floor))
    out.append(tail, "dim")
    out.append(words, style)
    if out.cell_len + len(steps) <= width:
        out.append(steps, "dim")
    return out


def _verdict(view: ParityView, agree: str, differ: str) -> tuple[str, str]:
    """(words, style) of the verdict: `agree`, a non-finite loss, or `differ`."""
    if view.within is True:
        return agree, "green"
    return ("✗ non-finite loss" if view.nonfinite else differ), "bold red"


def render_statistical(view: ParityView, width: int) -> Text:
    """The statistical check of a run with dropout: moving medians of both curves, their
    difference as a fraction of the starting loss (now and max), a meter, the band."""
    out = Text.assemble(("Parity   ", "bold"), ("statistical ", "bold yellow"))
    if view.max_rel is None and view.within is None:
        out.append("(dropout: masks differ) · waiting for a full smoothing window", "dim")
        return out
    verdict, style = _verdict(view, "≈ in band", "✗ OUT OF BAND")
    tail = f" band {_short(view.tolerance)} "
    now = f"now {fmt_sci(view.last_rel)} · "
    figures = f"max {fmt_sci(view.max_rel)} "
    if out.cell_len + 16 + len(now) + len(figures) + len(tail) + len(verdict) + 8 <= width:
        figures = now + figures  # the latest difference too, where it fits
    out.append("smoothed Δ/start ", "dim")
    out.append(figures)
    floor = view.tolerance / 10 ** STATISTICAL_DECADES
    return _close(out, width, (view.max_rel, view.tolerance, floor), tail, (verdict, style),
                  f" ({view.steps_compared:,} steps, dropout)")


def render_parity(view: ParityView, width: int) -> Text:
    """One line: the relative loss difference (now and max), a meter, the verdict."""
    out = Text.assemble(("Parity   ", "bold"))
    if not view.available:
        out.append("needs two engines", "dim")
        return out
    if view.steps_compared == 0:
        out.append("waiting for both engines' first steps", "dim")
        return out
    if view.method == "statistical":
        return render_statistical(view, width)
    out.append("rel. Δloss ", "dim")
    out.append(f"now {fmt_sci(view.last_rel)} · max {fmt_sci(view.max_rel)} ")
    verdict, style = _verdict(view, "✓ within", "✗ MISMATCH")
    early_tol = view.early_tolerance
    # The bounds are the precision's: named unless float32 (the default, and the tightest).
    named = "" if view.precision == "fp32" else f" {view.precision}"
    if early_tol is not None and early_tol != view.tolerance:
        # Early steps are held to the strict bound: show both, early first.
        tail = f"{named} tol {_short(early_tol)}→{_short(view.tolerance)} "
    else:
        tail = f"{named} tol {view.tolerance:.0e} "
    return _close(out, width, (effective_rel(view), view.tolerance, FLOOR), tail,
                  (verdict, style), f" ({view.steps_compared:,} steps)")


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
