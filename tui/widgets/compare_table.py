"""CompareTable: two saved runs side by side, by section, rows that differ highlighted."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable

from engines.results.diff import CompareRow

from ..saved_runs import compare_cells, compare_lines


class CompareTable(DataTable):
    """Label, run A, run B, and how B compares with A; `only_differing` hides equal rows."""

    BINDINGS = [
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]

    def __init__(self, rows: list[CompareRow], **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.compare_rows = rows
        self.only_differing = False

    def on_mount(self) -> None:
        self.add_column("", key="label")
        self.add_column("A", key="a")
        self.add_column("B", key="b")
        self.add_column("B vs A", key="note")
        self.fill()

    def fill(self) -> None:
        """(Re)build the rows for the current filter."""
        self.clear()
        for line in compare_lines(self.compare_rows, self.only_differing):
            self.add_row(*compare_cells(line))

    def set_only_differing(self, value: bool) -> None:
        """Show every row, or only those whose values differ."""
        if value != self.only_differing:
            self.only_differing = value
            self.fill()
