"""KeysScreen: every key of the screen below, plus the keys that work everywhere."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GLOBAL_KEYS = [
    ("?", "show this list of keys"),
    ("ctrl+p", "command palette: every action by name"),
    ("q / ctrl+c", "quit (a running comparison is cancelled; no process is left behind)"),
]


def keys_table(sections: list[tuple[str, list[tuple[str, str]]]]) -> Table:
    """One two-column table of keys and what they do, in titled sections."""
    table = Table(box=None, padding=(0, 2, 0, 0), show_header=False, expand=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for i, (title, rows) in enumerate(sections):
        if i:
            table.add_row("", "")
        table.add_row(title, "", style="underline")
        for key, what in rows:
            table.add_row(key, what)
    return table


class KeysScreen(ModalScreen[None]):
    """A modal list of keys; any of escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="keys-dialog"):
            yield Static(keys_table([(self.title_text, self.rows), ("Everywhere", GLOBAL_KEYS)]),
                         id="keys-table")

    def on_mount(self) -> None:
        self.query_one("#keys-dialog").border_title = "Keys"

    def action_close(self) -> None:
        self.dismiss(None)
