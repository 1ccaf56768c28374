"""RunSettingsForm: the run settings, edited from the keyboard before a run."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from scenarios import Scenario

from ..settings_draft import SettingsDraft


class RunSettingsForm(Widget, can_focus=True):
    """Rows of settings: up/down (j/k) choose a row, left/right (h/l) change its value,
    digits type a number, backspace deletes a digit, delete restores the default."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "row up", show=False),
        Binding("down,j", "move(1)", "row down", show=False),
        Binding("left,h", "change(-1)", "change value", show=True, key_display="← →"),
        Binding("right,l", "change(1)", "next value", show=False),
        Binding("backspace", "backspace", "delete digit", show=False),
        Binding("delete", "reset", "default", show=False),
    ]

    row_index: reactive[int] = reactive(0)
    """Which row the cursor is on."""

    class Changed(Message):
        """The draft changed (a value, or the engines to run)."""

    def __init__(self, draft: SettingsDraft, **kwargs) -> None:
        super().__init__(**kwargs)
        self.draft = draft
        self.scenario: Scenario | None = None
        self.error: str | None = None

    @property
    def current_key(self) -> str:
        """The setting under the cursor."""
        return self.draft.rows[self.row_index].key

    def set_scenario(self, scenario: Scenario | None) -> None:
        """Show values for `scenario` (its defaults where the user has not chosen)."""
        self.scenario = scenario
        self._validate()
        self.refresh()

    def _validate(self) -> None:
        self.error = None
        if self.scenario is not None:
            _, self.error = self.draft.resolve(self.scenario)

    def _changed(self) -> None:
        self._validate()
        self.refresh()
        self.post_message(self.Changed())

    def action_move(self, delta: int) -> None:
        self.draft.commit()
        self.row_index = (self.row_index + delta) % len(self.draft.rows)
        self._changed()

    def action_change(self, delta: int) -> None:
        if self.scenario is not None:
            self.draft.change(self.current_key, delta, self.scenario)
            self._changed()

    def action_backspace(self) -> None:
        self.draft.backspace(self.current_key)
        self._changed()

    def action_reset(self) -> None:
        self.draft.reset(self.current_key)
        self._changed()

    def on_key(self, event: events.Key) -> None:
        if event.character is not None and event.character.isdigit() \
                and self.draft.row(self.current_key).numeric:
            event.stop()
            event.prevent_default()
            self.draft.type_digit(self.current_key, event.character)
            self._changed()

    def on_blur(self) -> None:
        self.draft.commit()
        self.refresh()

    def watch_row_index(self) -> None:
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.scenario is None:
            return Text("pick a scenario", style="dim")
        width = max(10, self.content_size.width)
        label_w = max(len(r.label) for r in self.draft.rows) + 1
        for i, row in enumerate(self.draft.rows):
            selected = i == self.row_index and self.has_focus
            value = self.draft.display(row.key, self.scenario)
            if row.choices and selected:
                value = f"◂ {value} ▸"
            style = "bold" if self.draft.is_set(row.key) else ""
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("▸ " if i == self.row_index else "  ", "bold" if selected else "dim")
            line.append(row.label.ljust(label_w), "dim" if not selected else "")
            line.append(value, style)
            if selected:
                line.stylize("reverse")
            line.truncate(width, overflow="ellipsis")
            text.append_text(line)
            text.append("\n")
        if self.error:
            text.append(f"✗ {self.error}", "red")
        else:
            text.append("enter: run · tab: scenarios", "dim")
        return text
