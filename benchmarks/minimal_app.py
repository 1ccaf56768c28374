"""The yardstick of bench_tui.py's start-up figure: a minimal Textual app shaped like the picker.

A header, the four built-in scenario names in an OptionList, a line that names the highlighted
one (the picker's detail pane, reduced to one line), and a footer; nothing from this project.
`python benchmarks/minimal_app.py` in a terminal is "how fast can a Textual app be usable here".
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, OptionList, Static


class MinimalPicker(App[None]):
    """A list, a line about the highlighted entry, and `q` to quit."""

    BINDINGS = [("q", "quit", "quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield OptionList("mlp", "cnn", "lstm", "regression", id="scenarios")
        yield Static("selected mlp", id="detail")
        yield Footer()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#detail", Static).update(f"selected {event.option.prompt}")


if __name__ == "__main__":
    MinimalPicker().run()
