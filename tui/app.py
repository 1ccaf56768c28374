"""FwCompareApp: the scenario picker, the live dashboard, and the headless snapshot mode.

The app is made from checked command-line Options, the same way for the command line, the
tests and the benchmarks (tui.testing.app_for builds one from an argument list).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from engines import Comparison
from engines.hosting.pool import HostPool
from engines.run.driver import RunDriver
from engines.run.telemetry import shared_nvml
from engines.settings import RunSettings
from scenarios import Scenario

from .options import Options
from .paths import calibration_file
from .screens.dashboard import KEY_HELP as DASHBOARD_KEYS
from .screens.dashboard import DashboardOptions, DashboardScreen
from .screens.fairness import KEY_HELP as FAIRNESS_KEYS
from .screens.fairness import FairnessScreen
from .screens.keys import KeysScreen
from .screens.picker import KEY_HELP as PICKER_KEYS
from .screens.picker import PickerScreen
from .screens.run_compare import KEY_HELP as COMPARE_KEYS
from .screens.run_compare import CompareScreen
from .screens.runs import KEY_HELP as RUNS_KEYS
from .screens.runs import RunsScreen
from .settings_draft import SettingsDraft

ComparisonFactory = Callable[..., RunDriver]


def ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr.

    While the app runs, Textual replaces sys.stderr with an object whose fileno() is -1, and
    the tracker (started on the first spawn of an engine process) would fail with "bad
    value(s) in fds_to_keep". Starting it here, with the real stream put back for the call,
    avoids that; later spawns reuse it.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    real = sys.__stderr__
    devnull = None
    if real is None or real.fileno() < 0:  # pragma: no cover - no stderr at all
        devnull = real = open(os.devnull, "w")  # noqa: SIM115
    try:
        sys.stderr = real
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved
        if devnull is not None:
            devnull.close()


SNAPSHOT_SETTLE_S = 0.3  # after the final figures are drawn, before the screenshot


class FwCompareApp(App[int]):
    """TensorFlow or PyTorch for this model, on this machine: pick, run, watch, export."""

    CSS_PATH = "app.tcss"
    TITLE = "fwcompare-tui"
    BINDINGS = [
        Binding("question_mark", "show_keys", "keys", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, options: Options, *,
                 comparison_factory: ComparisonFactory | None = None,
                 prewarm: bool = True) -> None:
        """The app for `options` (command 'app'). `comparison_factory` stands in for
        Comparison (tests, benchmarks); `prewarm=False` starts no engine process early."""
        super().__init__()
        self.scenarios = list(options.scenarios)
        self.problems = list(options.problems)
        self.engines = dict(options.engines)
        self.draft = SettingsDraft(self.engines, dict(options.overrides), options.fixed)
        self.autorun: tuple[Scenario, RunSettings] | None = None
        if options.scenario is not None and options.settings is not None:
            self.autorun = (options.scenario, options.settings)
        self.snapshot_path = Path(options.snapshot) if options.snapshot else None
        self.comparison_factory = comparison_factory or Comparison
        self.user_dir = options.user_dir
        self.runs_folder = options.runs_folder
        # What every dashboard of this app does at the end of a run.
        self.run_options = DashboardOptions(
            telemetry=options.telemetry,
            export_path=Path(options.export) if options.export else None,
            runs_folder=options.runs_folder if options.save_runs else None,
            announce_export=self.snapshot_path is None,
            calibration_file=calibration_file())
        self.picker: PickerScreen | None = None
        self.snapshot_written: Path | None = None
        # Engine processes pre-warmed while the user chooses (DESIGN: imports paid once).
        # Only for real Comparisons in child processes; a stand-in factory gets no pool.
        self.pool: HostPool | None = None
        if prewarm and comparison_factory is None and \
                self.draft.fixed.get("isolation", "process") == "process":
            self.pool = HostPool()

    # -- lifecycle -----------------------------------------------------------------------
    async def on_mount(self) -> None:
        self.picker = PickerScreen(self.scenarios, self.draft, self.user_dir)
        await self.push_screen(self.picker)
        if self.run_options.telemetry:  # nvmlInit once per app, in a background thread, from now
            shared_nvml()
        if self.autorun is None:  # an autorun takes its engines at once: nothing to warm
            self.warm_engines()
        if self.problems and not self.snapshot_path:
            lines = "\n".join(f"• {p}" for p in self.problems[:5])
            self.notify(f"Skipped {len(self.problems)} broken scenario file(s):\n{lines}",
                        title="Scenario folder", severity="warning", timeout=10)
        if self.autorun is not None:
            scenario, settings = self.autorun
            self.picker.select(scenario.name)
            self.start_run(scenario, settings, self.draft.selected_engines())

    def new_comparison(self, scenario: Scenario, settings: RunSettings,
                       engines: dict[str, str], telemetry: bool) -> RunDriver:
        """A Comparison (or a stand-in with the same calls, in tests and benchmarks)."""
        if settings.isolation == "process":
            ensure_resource_tracker()
        if self.pool is not None:
            return self.comparison_factory(scenario, settings, engines, telemetry=telemetry,
                                           pool=self.pool)
        return self.comparison_factory(scenario, settings, engines, telemetry=telemetry)

    def warm_engines(self) -> None:
        """Start (in the background) a child process per engine that imports its framework,
        so the next run starts without paying the imports. Never while a run is going: the
        imports would compete with its measurements for the cores."""
        if self.pool is None or self.pool.closed or self.snapshot_path is not None or \
                any(d.running for d in self.dashboards):
            return
        ensure_resource_tracker()
        try:
            # Spawning returns in tens of ms; the imports go on in the children.
            self.pool.warm(self.engines.values())
        except OSError as err:  # pragma: no cover - out of processes or memory
            self.notify(f"could not pre-start the engines: {err}", severity="warning")

    def close_engines(self) -> None:
        """Cancel every run and stop the pre-warmed engine processes (quit, unmount)."""
        self.stop_all_runs()
        if self.pool is not None:
            self.pool.close()

    def on_unmount(self) -> None:
        self.close_engines()

    def start_run(self, scenario: Scenario, settings: RunSettings,
                  engines: dict[str, str]) -> DashboardScreen:
        """Open a dashboard and start the comparison."""
        if self.pool is not None:
            self.pool.discard_except(engines.values())
        screen = DashboardScreen(scenario, settings, engines, self.run_options)
        self.push_screen(screen)
        return screen

    @property
    def dashboards(self) -> list[DashboardScreen]:
        """Dashboards on the screen stack (at most one in practice)."""
        return [s for s in self.screen_stack if isinstance(s, DashboardScreen)]

    def stop_all_runs(self) -> None:
        """Cancel every run still going: engine processes are killed now."""
        for screen in self.dashboards:
            screen.stop_run()

    async def action_quit(self) -> None:
        self.close_engines()
        self.exit(return_code=0)

    def action_runs(self) -> None:
        """Open the list of saved runs."""
        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.runs_folder))

    def on_dashboard_screen_run_ended(self, message: DashboardScreen.RunEnded) -> None:
        """A dashboard's run has ended and its final figures are on screen."""
        if self.snapshot_path is not None:
            code = message.exit_code
            self.set_timer(SNAPSHOT_SETTLE_S, lambda: self.call_after_refresh(
                self._write_snapshot, code))
        else:
            self.warm_engines()  # for "run again" or the next scenario

    def _write_snapshot(self, exit_code: int) -> None:
        path = self.snapshot_path
        assert path is not None
        try:
            self.save_screenshot(filename=path.name, path=str(path.parent or Path(".")))
            self.snapshot_written = path
        except OSError as err:
            self.exit(return_code=2, message=f"fwcompare-tui: error: cannot write {path}: {err}")
            return
        self.exit(return_code=exit_code)

    # -- keys and the command palette ----------------------------------------------------
    def key_help(self, screen: Screen) -> tuple[str, list[tuple[str, str]]]:
        """Title and rows of the keys screen for `screen`."""
        if isinstance(screen, DashboardScreen):
            return "Dashboard", DASHBOARD_KEYS
        if isinstance(screen, RunsScreen):
            return "Saved runs", RUNS_KEYS
        if isinstance(screen, CompareScreen):
            return "Two runs side by side", COMPARE_KEYS
        if isinstance(screen, FairnessScreen):
            return "Fairness report", FAIRNESS_KEYS
        return "Scenario picker", PICKER_KEYS

    def action_show_keys(self) -> None:
        if isinstance(self.screen, KeysScreen):
            return
        title, rows = self.key_help(self.screen)
        self.push_screen(KeysScreen(title, rows))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Show keys", "Every key of this screen", self.action_show_keys)
        if isinstance(screen, PickerScreen):
            for s in self.scenarios:
                yield SystemCommand(f"Run {s.name}", s.description,
                                    lambda s=s: self._run_from_palette(screen, s))
            yield SystemCommand("Filter scenarios", "Filter the list by name or description",
                                screen.action_filter)
            yield SystemCommand("Edit run settings", "Steps, batch size, task, mode, ...",
                                screen.action_edit_settings)
            yield SystemCommand("Saved runs", "Past runs: list them, compare two side by side",
                                self.action_runs)
        if isinstance(screen, DashboardScreen):
            if screen.running:
                yield SystemCommand("Cancel run", "Stop both engines now", screen.action_cancel)
            else:
                yield SystemCommand("Run again", "Same scenario and settings",
                                    screen.action_rerun)
            yield SystemCommand("Export results", "Write the results JSON",
                                screen.action_export)
            yield SystemCommand("Fairness report", "What each engine ran with; warnings",
                                screen.action_fairness)
            yield SystemCommand("Back to the picker", "Choose another scenario",
                                screen.action_back)
            yield SystemCommand("Toggle log scale", "Loss chart: linear / log",
                                screen.action_toggle_log)
            yield SystemCommand("Toggle x-axis", "Charts by step / by wall time",
                                screen.action_toggle_wall)

    def _run_from_palette(self, screen: PickerScreen, scenario: Scenario) -> None:
        screen.select(scenario.name)
        screen.action_run()
