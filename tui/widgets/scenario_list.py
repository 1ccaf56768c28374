"""ScenarioList: every scenario, one per line, with where it came from; filterable."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from scenarios import Scenario

from ..safe_text import printable


def origin_of(scenario: Scenario, user_dir: Path | None = None) -> str:
    """'built-in', 'user' (from the user's scenario folder) or 'file' (--scenario-file)."""
    if scenario.builtin:
        return "built-in"
    if user_dir is not None and Path(scenario.source).parent == Path(user_dir):
        return "user"
    return "file"


def matches(scenario: Scenario, text: str) -> bool:
    """Case-insensitive match of the filter against name and description."""
    t = text.strip().lower()
    return not t or t in scenario.name.lower() or t in scenario.description.lower()


class ScenarioList(OptionList):
    """The picker's list of scenarios; arrow keys or j/k move, Enter runs."""

    BINDINGS = [
        Binding("enter", "select", "run"),
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]

    def __init__(self, scenarios: list[Scenario], user_dir: Path | None = None,
                 **kwargs) -> None:
        self.scenarios = list(scenarios)
        self.user_dir = user_dir
        self.filter_text = ""
        super().__init__(*self._build_options(), **kwargs)

    def _build_options(self) -> list[Option]:
        names = {s.name: printable(s.name, newlines=False) for s in self.scenarios}
        width = max((len(n) for n in names.values()), default=8)
        out = []
        for s in self.scenarios:
            if not matches(s, self.filter_text):
                continue
            # A rich Text: a name is shown as it is, never parsed as markup.
            prompt = Text.assemble((names[s.name].ljust(width), "bold"), "  ",
                                   (origin_of(s, self.user_dir), "dim"))
            out.append(Option(prompt, id=s.name))
        return out

    @property
    def current(self) -> Scenario | None:
        """The highlighted scenario, if any."""
        if self.highlighted is None or self.option_count == 0:
            return None
        name = self.get_option_at_index(self.highlighted).id
        return next((s for s in self.scenarios if s.name == name), None)

    def set_filter(self, text: str) -> None:
        """Show only scenarios whose name or description contains `text`."""
        keep = self.current.name if self.current else None
        self.filter_text = text
        self.clear_options()
        self.add_options(self._build_options())
        if self.option_count:
            index = 0
            if keep is not None:
                try:
                    index = self.get_option_index(keep)
                except Exception:  # noqa: BLE001 - filtered out
                    index = 0
            self.highlighted = index

    def select_name(self, name: str) -> None:
        """Move the cursor to the scenario called `name` (if shown)."""
        try:
            self.highlighted = self.get_option_index(name)
        except Exception:  # noqa: BLE001 - not in the (filtered) list
            pass
