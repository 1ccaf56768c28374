"""RunsScreen: every saved run, newest first; mark two with space, enter shows them side by side.

The folder is read in a thread worker (it may hold many large files); a file that is not a
readable results document is skipped with a warning line, never an error.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from engines.results.diff import RunComparison, compare_runs
from engines.results.store import RunFileError, RunListing, list_runs, load_run

from ..safe_text import plain, printable
from ..saved_runs import run_detail, warning_lines
from ..scaling_view import scaling_series
from ..widgets.app_header import AppHeader
from ..widgets.key_footer import KeyFooter
from ..widgets.run_table import RunTable
from .run_compare import CompareScreen
from .scaling import ScalingScreen

KEY_HELP = [
    ("↑ ↓ / j k", "move in the list of saved runs"),
    ("space", "mark the run as A, then B (a third mark replaces the older one)"),
    ("enter", "show A and B side by side (one mark: A against the run under the cursor)"),
    ("s", "scaling view of the run under the cursor (a --scaling run)"),
    ("r", "read the folder again"),
    ("escape / b", "back to the scenario picker"),
]


class RunsLoaded(Message):
    """The saved-runs folder was read (posted from a worker thread)."""

    def __init__(self, listing: RunListing) -> None:
        super().__init__()
        self.listing = listing


class ComparisonLoaded(Message):
    """Two runs were read and compared, or one could not be read (from a worker thread)."""

    def __init__(self, comparison: RunComparison | None, names: tuple[str, str],
                 error: str | None) -> None:
        super().__init__()
        self.comparison = comparison
        self.names = names
        self.error = error


class ScalingLoaded(Message):
    """A run was read for its scaling view, or could not be (from a worker thread)."""

    def __init__(self, doc: dict | None, name: str, error: str | None) -> None:
        super().__init__()
        self.doc = doc
        self.name = name
        self.error = error


class RunsScreen(Screen):
    """The saved runs of `directory`."""

    BINDINGS = [
        Binding("space", "mark", "mark A/B"),
        Binding("enter", "compare", "compare"),
        Binding("s", "scaling", "scaling"),
        Binding("r", "reload", "reload"),
        Binding("escape,b", "back", "back", key_display="esc"),
    ]

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.listing: RunListing | None = None
        self.loaded = False  # the folder has been read at least once
        self.sub_title = "saved runs"

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(id="runs-warnings")
        yield Static(id="runs-empty")
        yield RunTable(id="runs-table")
        yield Static(id="runs-detail")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(RunTable)
        table.border_title = "Saved runs"
        table.border_subtitle = plain(self.directory)
        table.focus()
        self.action_reload()

    # -- reading the folder --------------------------------------------------------------
    def action_reload(self) -> None:
        directory = self.directory

        def work() -> None:
            self.post_message(RunsLoaded(list_runs(directory)))

        self.run_worker(work, thread=True, group="list-runs", exclusive=True,
                        exit_on_error=False)

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.listing = message.listing
        table = self.query_one(RunTable)
        table.show_runs(message.listing.runs)
        lines = warning_lines(message.listing.warnings, self.directory)
        warnings = self.query_one("#runs-warnings", Static)
        warnings.update(plain("\n".join(lines)))
        warnings.set_class(bool(lines), "-visible")
        empty = self.query_one("#runs-empty", Static)
        empty.update(plain(f"No saved runs yet in {self.directory}.\nA run is saved here when "
                           "it finishes (not when it is cancelled); --no-save turns that off."))
        empty.set_class(not message.listing.runs, "-visible")
        table.border_title = f"Saved runs · {len(message.listing.runs)}"
        self.loaded = True
        self._show_detail()

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.query_one(RunTable)
        key = table.current
        detail = run_detail(table.runs[key]) if key in table.runs else Text("")
        hint = self._mark_hint(table)
        self.query_one("#runs-detail", Static).update(Text("\n").join([detail, hint]))

    def _mark_hint(self, table: RunTable) -> Text:
        marks = table.marks.paths
        out = Text()
        for name, path in zip(("A", "B"), (*marks, None, None)):
            out.append(f"{name} ", "bold reverse")
            info = table.runs.get(path) if path else None
            out.append(printable(f" {info.title} {info.started_text}  ", newlines=False)
                       if info else " —  ", "" if info else "dim")
        out.append("space: mark · enter: side by side", "dim")
        return out

    # -- marking and comparing -----------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one(RunTable)
        table.toggle_mark()
        self._show_detail()

    @on(DataTable.RowSelected, "#runs-table")
    def _selected(self) -> None:
        self.action_compare()

    def action_compare(self) -> None:
        table = self.query_one(RunTable)
        pair = table.marks.pair(table.current)
        if pair is None:
            self.notify("Mark two runs with space (or one, then move to the other), then "
                        "press enter.", severity="warning", timeout=4)
            return
        path_a, path_b = pair

        def work() -> None:
            names = (Path(path_a).name, Path(path_b).name)
            try:
                a, b = load_run(path_a), load_run(path_b)
                self.post_message(ComparisonLoaded(compare_runs(a, b), names, None))
            except RunFileError as err:
                self.post_message(ComparisonLoaded(None, names, str(err)))
            except Exception as err:  # noqa: BLE001 - a strange file must not end the app
                self.post_message(ComparisonLoaded(None, names, f"{type(err).__name__}: {err}"))

        self.run_worker(work, thread=True, group="compare-runs", exclusive=True,
                        exit_on_error=False)

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        if message.error or message.comparison is None:
            self.notify(f"Cannot compare: {message.error}", severity="error", timeout=8)
            return
        self.app.push_screen(CompareScreen(message.comparison, *message.names))

    # -- the scaling view ----------------------------------------------------------------
    def action_scaling(self) -> None:
        table = self.query_one(RunTable)
        path = table.current
        if path not in table.runs:
            return

        def work() -> None:
            name = Path(path).name
            try:
                self.post_message(ScalingLoaded(load_run(path), name, None))
            except RunFileError as err:
                self.post_message(ScalingLoaded(None, name, str(err)))
            except Exception as err:  # noqa: BLE001 - a strange file must not end the app
                self.post_message(ScalingLoaded(None, name, f"{type(err).__name__}: {err}"))

        self.run_worker(work, thread=True, group="scaling-run", exclusive=True,
                        exit_on_error=False)

    def on_scaling_loaded(self, message: ScalingLoaded) -> None:
        if message.error or message.doc is None:
            self.notify(f"Cannot read the run: {message.error}", severity="error", timeout=8)
            return
        if not scaling_series(message.doc)[1]:
            self.notify("This run has no scaling figures: run --no-tui --scaling 1,2 to make "
                        "one.", severity="warning", timeout=6)
            return
        self.app.push_screen(ScalingScreen(message.doc, message.name))

    def action_back(self) -> None:
        self.app.pop_screen()
