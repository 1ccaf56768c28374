"""FairnessScreen: what each engine ran with, what the run did to keep the comparison fair, and
every warning, as the results JSON's `fairness` block has them."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engines.registry import engine_label
from engines.results.fairness import FairnessReport

from ..safe_text import plain
from ..widgets.fairness_line import LEVEL_LOOK

KEY_HELP = [
    ("↑ ↓ / page up, page down", "scroll the report"),
    ("escape / f", "close the report"),
]


def settings_table(report: FairnessReport) -> Table:
    """Property by engine; rows that differ in something that changes speed are flagged red."""
    table = Table(box=None, padding=(0, 2, 0, 0), expand=False, header_style="bold")
    table.add_column("", no_wrap=True)
    for name in report.engines:
        table.add_column(engine_label(name), overflow="fold", ratio=1)
    table.add_column("", no_wrap=True)
    for row in report.rows:
        values = [row.values.get(n, "?") for n in report.engines]
        if row.flagged:
            flag, style = Text("✗ differs: changes speed", "bold red"), "red"
        elif row.differs:
            flag, style = Text("differs, not in speed", "dim"), ""
        else:
            flag, style = Text(""), ""
        table.add_row(plain(row.label, "bold" if row.flagged else "dim"),
                      *(plain(v, style) for v in values), flag)
    return table


def report_renderable(report: FairnessReport) -> Group:
    """The whole report: settings per engine, then warnings, then the measures taken."""
    parts: list = [Text("What each engine ran with", "bold underline"), settings_table(report)]
    parts.append(Text(""))
    if report.warnings:
        parts.append(Text("Warnings and notes", "bold underline"))
        for w in report.warnings:
            glyph, style = LEVEL_LOOK.get(w.level, LEVEL_LOOK["note"])
            parts.append(plain(f"{glyph} {w.text}", style or "default"))
    else:
        parts.append(Text("✓ no warnings: like with like", "green"))
    parts.append(Text(""))
    parts.append(Text("Measures taken to keep it fair", "bold underline"))
    for m in report.measures:
        parts.append(plain(f"✓ {m}"))
    return Group(*parts)


class FairnessScreen(ModalScreen[None]):
    """The fairness report of the run on the dashboard below (computed when opened)."""

    BINDINGS = [Binding("escape,f,q", "close", "close", key_display="esc")]

    def __init__(self, report: FairnessReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="fairness-dialog"):
            yield Static(report_renderable(self.report), id="fairness-report")

    def on_mount(self) -> None:
        dialog = self.query_one("#fairness-dialog")
        dialog.border_title = "Fairness report"
        dialog.border_subtitle = "escape: close"
        dialog.focus()

    def action_close(self) -> None:
        self.dismiss(None)
