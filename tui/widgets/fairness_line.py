"""FairnessLine: one line saying whether both engines ran like with like (`f` for the report)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..live_model import FairnessView
from ..safe_text import printable

LEVEL_LOOK = {"warning": ("⚠", "bold yellow"), "note": ("ℹ", "")}


def render_fairness(view: FairnessView, width: int = 200) -> Text:
    """'⚠ XLA on TensorFlow only: ... (+1 more · f: report)' or '✓ no difference that ...'.

    A long warning is shortened, never the hint at its end: the key to the full text."""
    out = Text.assemble(("Fairness ", "bold"))
    if view.headline is None:
        if not view.complete:
            out.append("waiting for both engines' settings", "dim")
            return out
        out.append("✓ no difference between the engines that changes speed", "green")
        out.append(" · f: report", "dim")
        return out
    level, text = view.headline
    text = printable(text, newlines=False)
    glyph, style = LEVEL_LOOK.get(level, LEVEL_LOOK["note"])
    if level == "note":
        out.append("✓ no difference that changes speed · ", "green")
    tail = f" (+{view.more} more · f: report)" if view.more else " · f: report"
    room = width - out.cell_len - len(tail) - 2
    if len(text) > room:
        text = text[: max(8, room - 1)].rstrip() + "…"
    out.append(f"{glyph} {text}", style)
    out.append(tail, "dim")
    return out


class FairnessLine(Widget):
    """One line with the first fairness warning the rest of the dashboard does not show."""

    DEFAULT_CSS = "FairnessLine { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: FairnessView | None = None

    def show(self, view: FairnessView) -> None:
        """Take a new view; refresh when it changed."""
        if view != self.view:
            self.view = view
            self.set_class(view.warnings > 0, "-warning")
            self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return Text("Fairness —", style="dim")
        text = render_fairness(self.view, self.content_size.width)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
