"""CompareScreen: two saved runs side by side (machine, settings, each engine, the verdicts),
rows that differ highlighted, and warnings where the two are not comparable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from engines.results.diff import RunComparison

from ..safe_text import plain, printable
from ..widgets.app_header import AppHeader
from ..widgets.compare_table import CompareTable
from ..widgets.key_footer import KeyFooter

KEY_HELP = [
    ("↑ ↓ / j k, page up/down", "scroll the rows"),
    ("d", "show only the rows that differ / every row"),
    ("escape / b", "back to the list of saved runs"),
]


def titles_text(comparison: RunComparison, name_a: str, name_b: str) -> Text:
    """Two lines naming run A and run B (what, when, where, and the file)."""
    out = Text()
    for i, (mark, title, name) in enumerate((("A", comparison.title_a, name_a),
                                             ("B", comparison.title_b, name_b))):
        if i:
            out.append("\n")
        out.append(f" {mark} ", "bold reverse")
        out.append(" " + printable(title, newlines=False))
        out.append("  " + printable(name, newlines=False), "dim")
    return out


class CompareScreen(Screen):
    """A RunComparison as a table."""

    BINDINGS = [
        Binding("d", "toggle_differing", "only differences"),
        Binding("escape,b", "back", "back", key_display="esc"),
    ]

    def __init__(self, comparison: RunComparison, name_a: str = "", name_b: str = "") -> None:
        super().__init__()
        self.comparison = comparison
        self.names = (name_a, name_b)
        self.sub_title = "two runs side by side"

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(titles_text(self.comparison, *self.names), id="compare-titles")
        lines = [f"⚠ {w}" for w in self.comparison.warnings]
        yield Static(plain("\n".join(lines)), id="compare-warnings",
                     classes="-visible" if lines else "")
        yield CompareTable(self.comparison.rows, id="compare-table")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(CompareTable)
        differing = sum(r.differs for r in self.comparison.rows)
        table.border_title = f"A vs B · {differing} of {len(self.comparison.rows)} rows differ"
        table.focus()

    def action_toggle_differing(self) -> None:
        table = self.query_one(CompareTable)
        table.set_only_differing(not table.only_differing)
        table.border_subtitle = "only rows that differ (d: all)" if table.only_differing else ""

    def action_back(self) -> None:
        self.app.pop_screen()
