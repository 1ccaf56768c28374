"""PickerScreen: choose a scenario, see what it trains, set up the run, press Enter."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, OptionList

from scenarios import Scenario

from ..safe_text import printable
from ..settings_draft import SettingsDraft
from ..widgets.app_header import AppHeader
from ..widgets.key_footer import KeyFooter
from ..widgets.run_settings_form import RunSettingsForm
from ..widgets.scenario_detail import ScenarioDetail
from ..widgets.scenario_list import ScenarioList, origin_of

# Every key of this screen, for the keys screen (`?`); tests check it covers the bindings.
KEY_HELP = [
    ("↑ ↓ / j k", "move in the scenario list (or between settings rows)"),
    ("enter", "run the highlighted scenario with these settings"),
    ("/", "filter scenarios by name or description (enter keeps it, esc clears it)"),
    ("tab / shift+tab", "move between the scenario list and the run settings"),
    ("s", "edit the run settings"),
    ("← → / h l", "settings: previous / next value (numbers step along a ladder)"),
    ("0-9, backspace", "settings: type a number (steps, batch size, warm-up, threads)"),
    ("delete", "settings: back to the scenario's default"),
    ("escape", "clear the filter / back to the list"),
    ("r", "saved runs: every finished run; mark two and compare them side by side"),
]


class PickerScreen(Screen):
    """The scenario list, its details, and the run settings."""

    # The list has the focus from the first frame (Textual's default focuses the first
    # focusable widget, the hidden filter box, then on_mount moves it: two footers drawn).
    AUTO_FOCUS = "#scenarios"

    BINDINGS = [
        Binding("enter", "run", "run", priority=False),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("s", "edit_settings", "settings"),
        Binding("r", "app.runs", "saved runs"),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self, scenarios: list[Scenario], draft: SettingsDraft,
                 user_dir: Path | None = None) -> None:
        super().__init__()
        self.scenarios = scenarios
        self.draft = draft
        self.user_dir = user_dir
        self.sub_title = "pick a scenario"

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with Horizontal(id="picker"):
            with Vertical(id="picker-left"):
                yield Input(placeholder="filter…", id="filter")
                yield ScenarioList(self.scenarios, self.user_dir, id="scenarios")
                yield RunSettingsForm(self.draft, id="settings")
            yield ScenarioDetail(id="detail")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        try:
            scenario_list = self.query_one(ScenarioList)
            form = self.query_one(RunSettingsForm)
        except NoMatches:  # the app is closing already (Ctrl-C or SIGTERM during start-up)
            return
        scenario_list.border_title = "Scenarios"
        form.border_title = "Run settings"
        if scenario_list.option_count:
            scenario_list.highlighted = 0
        scenario_list.focus()
        self._show_current()

    def on_screen_resume(self) -> None:
        # Back from a dashboard (a run cancelled by going back took its engine processes
        # with it): warm the engines again for the next run (the app skips it mid-run).
        warm = getattr(self.app, "warm_engines", None)
        if warm is not None:
            warm()

    # -- state ---------------------------------------------------------------------------
    @property
    def current(self) -> Scenario | None:
        """The highlighted scenario."""
        return self.query_one(ScenarioList).current

    def select(self, name: str) -> None:
        """Highlight the scenario called `name`."""
        self.query_one(ScenarioList).select_name(name)
        self._show_current()

    def _show_current(self) -> None:
        scenario = self.current
        form = self.query_one(RunSettingsForm)
        form.set_scenario(scenario)
        settings = self.draft.resolve(scenario)[0] if scenario else None
        notes = []
        if scenario is not None and not scenario.builtin:
            notes.append(f"{origin_of(scenario, self.user_dir)}: {scenario.source}")
        if self.user_dir is not None:
            notes.append(f"Your own scenarios: TOML files in {self.user_dir}")
        note = printable("\n".join(notes))
        self.query_one(ScenarioDetail).show(scenario, settings, note)

    @on(OptionList.OptionHighlighted, "#scenarios")
    def _highlighted(self) -> None:
        self._show_current()

    @on(OptionList.OptionSelected, "#scenarios")
    def _selected(self) -> None:
        self.action_run()

    @on(RunSettingsForm.Changed)
    def _settings_changed(self) -> None:
        self._show_current()

    # -- filter --------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ScenarioList).set_filter(event.value)
        self._show_current()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.remove_class("-visible")
        self.query_one(ScenarioList).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.query_one(ScenarioList).set_filter("")
            self._show_current()
        self.query_one(ScenarioList).focus()

    def action_edit_settings(self) -> None:
        self.query_one(RunSettingsForm).focus()

    # -- run -----------------------------------------------------------------------------
    def action_run(self) -> None:
        scenario = self.current
        if scenario is None:
            self.notify("No scenario selected (clear the filter with esc).", severity="warning")
            return
        settings, error = self.draft.resolve(scenario)
        if settings is None:
            self.notify(f"Cannot run {scenario.name}: {error}", severity="error")
            self.query_one(RunSettingsForm).focus()
            return
        self.app.start_run(scenario, settings, self.draft.selected_engines())
