"""RunTable: the saved runs, newest first, with the two runs marked A and B for comparison."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable

from engines.results.store import RunInfo

from ..saved_runs import RUN_COLUMNS, RunMarks, run_cells


class RunTable(DataTable):
    """One row per saved run (row key: the file's path); space marks A/B."""

    BINDINGS = [
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.runs: dict[str, RunInfo] = {}
        self.marks = RunMarks()

    def on_mount(self) -> None:
        for key, label in RUN_COLUMNS:
            self.add_column(label, key=key, width=1 if key == "mark" else None)

    def show_runs(self, runs: list[RunInfo]) -> None:
        """Replace the rows, keeping the cursor on the same run where it is still listed."""
        current = self.current
        self.clear()
        self.runs = {str(r.path): r for r in runs}
        self.marks.keep_only(set(self.runs))
        for key, info in self.runs.items():
            self.add_row(*run_cells(info, self.marks.mark_of(key)), key=key)
        if current in self.runs:
            self.move_cursor(row=self.get_row_index(current))

    @property
    def current(self) -> str | None:
        """Path (row key) of the run under the cursor."""
        if not self.runs or self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def toggle_mark(self) -> None:
        """Mark or unmark the run under the cursor (A, then B)."""
        key = self.current
        if key is None:
            return
        self.marks.toggle(key)
        for path in self.runs:  # marks shift when one is dropped: redraw every mark cell
            self.update_cell(path, "mark", run_cells(self.runs[path], self.marks.mark_of(path))[0])
