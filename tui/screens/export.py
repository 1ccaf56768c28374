"""ExportScreen: ask where to write the results JSON (Enter writes, Escape cancels)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ExportScreen(ModalScreen[str | None]):
    """A one-field dialog with the export path, prefilled."""

    BINDINGS = [Binding("escape", "dismiss_none", "cancel")]

    def __init__(self, default_path: str) -> None:
        super().__init__()
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label("Export the results (JSON) to:")
            yield Input(self.default_path, id="export-path")
            yield Label("enter: write · escape: cancel", classes="hint")

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path.endswith(".json"):
            self.notify("The path must end in .json", severity="warning")
            return
        self.dismiss(path)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
