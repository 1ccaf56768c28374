"""DashboardScreen: a run, live and after: engine columns, charts, parity, speed-up, hardware.

The engines never call into the UI. A timer pulls the RunState at most REFRESH_HZ times a
second and updates every widget inside one `batch_update()`; once the run has ended, the exact
figures are read from the results document that ends the run (engines.results.finish: built,
exported and saved once, in a thread worker); they arrive as one message, and the screen then
posts RunEnded for the app.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen

from engines.registry import engine_label
from engines.results.calibration import load_calibration
from engines.results.fairness import fairness_of_state
from engines.results.finish import RunEnd, finish_run
from engines.run.driver import RunDriver
from engines.settings import RunSettings
from scenarios import Scenario

from ..live_model import DashboardModel, final_figures
from ..options import EXIT_INTERRUPTED
from ..palette import engine_color
from ..run_end import export_failure, why
from ..widgets.engine_column import EngineColumn
from ..widgets.fairness_line import FairnessLine
from ..widgets.hardware_panel import HardwarePanel
from ..widgets.key_footer import KeyFooter
from ..widgets.loss_chart import LossChart
from ..widgets.parity_meter import ParityMeter
from ..widgets.run_banner import RunBanner
from ..widgets.speedup_line import SpeedupLine
from ..widgets.step_time_chart import StepTimeChart
from .export import ExportScreen
from .fairness import FairnessScreen

REFRESH_HZ = 10

KEY_HELP = [
    ("c", "cancel the run: engine processes are killed at once"),
    ("r", "run again with the same scenario and settings (once the run has ended)"),
    ("e", "export the results as JSON (the same document as --export)"),
    ("b / escape", "back to the scenario picker (cancels a running run)"),
    ("l", "loss chart: linear / log scale"),
    ("x", "charts: x-axis by step / by wall time (which includes import and compile)"),
    ("f", "fairness report: each engine's settings, the warnings, the measures taken"),
]


@dataclass(frozen=True)
class DashboardOptions:
    """How the dashboard runs and ends its runs, fixed when it is made."""

    telemetry: bool = True
    export_path: Path | None = None  # every run's results are written here when it ends
    runs_folder: Path | None = None  # runs that end on their own are saved here; None: not
    # Where the results go when the export fails and the run is not saved (tui.run_end).
    keep_folder: Path | None = None
    announce_export: bool = True  # say "results written to ..." (not in --snapshot pictures)
    calibration_file: Path | None = None  # this machine's calibration, quoted in results


class FinalReady(Message):
    """A run ended: its results document is built, exported and saved (from a worker).
    `export_failure`: the message when the export failed (the results were kept)."""

    def __init__(self, run_id: int, end: RunEnd, export_failure: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.end = end
        self.export_failure = export_failure


class ExportDone(Message):
    """An export finished (posted from a worker thread)."""

    def __init__(self, path: str, error: str | None, partial: bool) -> None:
        super().__init__()
        self.path = path
        self.error = error
        self.partial = partial


def ended_on_its_own(comparison: RunDriver) -> bool:
    """True when a run ended without the user cancelling it (a failed engine counts as ended:
    that is a result worth keeping). Only such runs are saved."""
    return comparison.state.finished and not comparison.cancelled


class DashboardScreen(Screen):
    """One comparison run, from start to the final figures."""

    BINDINGS = [
        Binding("c", "cancel", "cancel"),
        Binding("r", "rerun", "rerun"),
        Binding("e", "export", "export"),
        Binding("b,escape", "back", "back", key_display="b"),
        Binding("l", "toggle_log", "log"),
        Binding("x", "toggle_wall", "x-axis"),
        Binding("f", "fairness", "fairness"),
    ]

    class RunEnded(Message):
        """A run has ended and its final figures are on screen (bubbles up to the app)."""

        def __init__(self, exit_code: int, doc: dict[str, Any] | None = None,
                     saved: Path | None = None, export_failure: str | None = None) -> None:
            super().__init__()
            # 0 when every engine finished its steps and the export (if any) was written.
            self.exit_code = exit_code
            self.doc = doc  # the results document
            self.saved = saved  # its file in the saved runs, if it was saved
            self.export_failure = export_failure  # why the export is missing, and where
            # the results were kept instead

    def __init__(self, scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 options: DashboardOptions | None = None) -> None:
        super().__init__()
        self.scenario = scenario
        self.settings = settings
        self.engines = dict(engines)
        self.options = options or DashboardOptions()
        self.telemetry = self.options.telemetry
        self.log_scale = False
        self.wall_axis = False
        self.run_id = 0
        self.comparison: RunDriver | None = None
        self.model: DashboardModel | None = None
        self.final_requested = False
        self.final_applied = False
        self.saved_path: str | None = None  # where the last finished run was saved

    def compose(self) -> ComposeResult:
        yield RunBanner(self.scenario, self.settings, self.engines, id="banner")
        with Horizontal(id="engines"):
            for i, name in enumerate(self.engines):
                yield EngineColumn(name, engine_label(name), engine_color(name, i),
                                   id=f"engine-{name}", classes="engine-column")
        with Horizontal(id="charts"):
            yield LossChart(id="loss-chart")
            yield StepTimeChart(id="step-time-chart")
        with Vertical(id="verdict"):
            yield ParityMeter(id="parity")
            yield SpeedupLine(id="speedup")
            yield FairnessLine(id="fairness")
        yield HardwarePanel(id="hardware")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.start_run()
        self.set_interval(1 / REFRESH_HZ, self.refresh_from_run, name="dashboard-refresh")

    def on_unmount(self) -> None:
        self.stop_run()

    # -- the run -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the run has engines that have not ended."""
        return self.comparison is not None and not self.comparison.state.finished

    @property
    def state(self):
        """The current run's RunState (None before the first run)."""
        return self.comparison.state if self.comparison is not None else None

    def start_run(self) -> None:
        """Start a fresh comparison with this screen's scenario and settings."""
        if getattr(self.app, "interrupted", False):  # Ctrl-C came before this run started
            self.post_message(self.RunEnded(EXIT_INTERRUPTED))
            return
        self.stop_run()
        self.run_id += 1
        self.final_requested = self.final_applied = False
        self.saved_path: str | None = None
        self.model = DashboardModel(self.scenario, self.settings, list(self.engines),
                                    telemetry=self.telemetry)
        self.comparison = self.app.new_comparison(self.scenario, self.settings, self.engines,
                                                  self.telemetry)
        self.comparison.start()
        self.refresh_from_run(force=True)
        self.refresh_bindings()

    def stop_run(self) -> None:
        """Cancel the current run if it is still going (kills the engine processes)."""
        if self.comparison is not None and not self.comparison.state.finished:
            self.comparison.cancel()

    def refresh_from_run(self, force: bool = False) -> None:
        """Pull what the engines produced since the last frame and redraw, in one batch."""
        if self.model is None or self.comparison is None:
            return
        was_running = not self.model.finished
        changed = self.model.update(self.comparison.state)
        if changed or force:
            with self.app.batch_update():
                self.render_model()
        if self.model.finished and not self.final_requested:
            self.final_requested = True
            self.run_worker(partial(self._finish, self.run_id, self.comparison), thread=True,
                            group="final", exit_on_error=False, name=f"final-{self.run_id}")
        if was_running and self.model.finished:
            self.refresh_bindings()

    def render_model(self) -> None:
        """Push the model's views into every widget (each redraws only if its view changed)."""
        model = self.model
        for name in model.names:
            self.query_one(f"#engine-{name}", EngineColumn).show(model.engine_view(name))
        self.query_one(LossChart).show(model, log=self.log_scale, wall=self.wall_axis)
        self.query_one(StepTimeChart).show(model, wall=self.wall_axis)
        self.query_one(ParityMeter).show(model.parity_view())
        self.query_one(SpeedupLine).show(model.speedup_view())
        self.query_one(FairnessLine).show(model.fairness_view())
        self.query_one(HardwarePanel).show(model.hardware_view())

    def _finish(self, run_id: int, comparison: RunDriver) -> None:
        """Worker thread: wait for the engine threads, then end the run: its results document
        (the final figures), the export, and the save (unless the user cancelled the run)."""
        comparison.wait(timeout=10.0)
        keep = self.options.runs_folder if ended_on_its_own(comparison) else None
        end = finish_run(comparison.state, export_path=self.options.export_path,
                         calibration=load_calibration(self.options.calibration_file),
                         runs_folder=keep)
        failure = None
        if self.options.export_path is not None and self.options.keep_folder is not None:
            failure = export_failure(end, self.options.export_path, self.options.keep_folder)
        self.post_message(FinalReady(run_id, end, failure))

    def on_final_ready(self, message: FinalReady) -> None:
        if message.run_id != self.run_id or self.model is None:
            return
        end = message.end
        self.saved_path = str(end.saved) if end.saved is not None else None
        self.model.update(self.comparison.state)
        self.model.apply_final(final_figures(end.doc))
        with self.app.batch_update():
            self.render_model()
        self.final_applied = True
        self.refresh_bindings()
        if end.exported is not None and self.options.announce_export:
            self.notify(f"results written to {end.exported}", timeout=4)
        if end.export_error is not None:
            self.notify(message.export_failure or f"export failed: {why(end.export_error)}",
                        severity="error", timeout=12)
        if end.save_error is not None:
            self.notify(f"could not save the run in {self.options.runs_folder}: "
                        f"{why(end.save_error)}", title="Saved runs", severity="warning",
                        timeout=8)
        code = self.comparison.state.exit_code() or (1 if end.export_error is not None else 0)
        self.post_message(self.RunEnded(code, end.doc, end.saved, message.export_failure))

    def write_export_now(self) -> bool:
        """Write the export of the current run from what it has so far, unless the end of
        the run has written it already (a second Ctrl-C: the app exits at once). True when
        it was written now."""
        if self.comparison is None or self.final_applied or self.options.export_path is None:
            return False
        self.comparison.cancel()
        self.comparison.wait(timeout=1.0)  # every engine gets its final status (cancelled)
        return finish_run(self.comparison.state,
                          export_path=self.options.export_path).exported is not None

    # -- keys ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Cancel while a run goes, rerun once it has ended (c then r restarts a run).
        if action == "cancel":
            return self.running
        if action == "rerun":
            return not self.running
        return True

    def action_cancel(self) -> None:
        if self.running:
            self.comparison.cancel()
            self.notify("Run cancelled: engine processes stopped.", timeout=3)
            self.refresh_from_run(force=True)

    def action_rerun(self) -> None:
        self.start_run()

    def action_back(self) -> None:
        self.stop_run()
        self.app.pop_screen()

    def action_fairness(self) -> None:
        if self.comparison is None:
            return
        self.app.push_screen(FairnessScreen(fairness_of_state(self.comparison.state)))

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        if self.model is not None:
            self.query_one(LossChart).show(self.model, log=self.log_scale, wall=self.wall_axis)

    def action_toggle_wall(self) -> None:
        self.wall_axis = not self.wall_axis
        if self.model is not None:
            self.render_model()

    def default_export_path(self) -> str:
        """--export's path, else a timestamped file in the current folder."""
        if self.options.export_path:
            return str(self.options.export_path)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        # The name is data: only letters, digits, '.', '-' and '_' make it into a file name.
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.scenario.name).strip("._") or "run"
        return str(Path.cwd() / f"fwcompare-{name}-{stamp}.json")

    def action_export(self) -> None:
        if self.comparison is None:
            return
        self.app.push_screen(ExportScreen(self.default_export_path()), self._export_to)

    def _export_to(self, path: str | None) -> None:
        if not path:
            return
        comparison, partial = self.comparison, self.running

        def work() -> None:
            end = finish_run(comparison.state, export_path=path)
            error = why(end.export_error) if end.export_error is not None else None
            self.post_message(ExportDone(path, error, partial))

        self.run_worker(work, thread=True, group="export", exit_on_error=False)

    def on_export_done(self, message: ExportDone) -> None:
        if message.error:
            self.notify(f"export failed: {message.error}", severity="error")
        else:
            note = " (partial: the run was still going)" if message.partial else ""
            self.notify(f"results written to {message.path}{note}", timeout=4)

