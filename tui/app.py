"""FwCompareApp: the scenario picker, the live dashboard, and the headless snapshot mode.

The app is made from checked command-line Options, the same way for the command line, the
tests and the benchmarks (tui.testing.app_for builds one from an argument list).

Start-up is what a new user meets first: only the picker's modules load before its first
frame; the dashboard, saved-runs and report screens load with their first use, and the engine
processes are pre-warmed (and NVML started) once the picker is on screen and idle, so their
imports do not compete with its first frames for the cores.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from engines.hosting.pool import HostPool
from engines.settings import RunSettings
from scenarios import Scenario

from .options import EXIT_INTERRUPTED, Options
from .paths import calibration_file
from .safe_text import escape_markup, printable
from .screens.picker import PickerScreen
from .settings_draft import SettingsDraft

if TYPE_CHECKING:
    from engines.run.driver import RunDriver

    from .screens.dashboard import DashboardOptions, DashboardScreen

ComparisonFactory = Callable[..., "RunDriver"]

# After the picker's first frame, how long the app waits before starting the engine processes
# and NVML (their imports take both cores of a 2-core machine for seconds).
PREWARM_DELAY_S = 0.5


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


_heap_frozen = False


def freeze_heap() -> None:
    """Everything loaded at start-up lives as long as the process: keep it out of the cyclic
    garbage collector's full passes, which otherwise scan it again every time (a pause keys
    feel). Once per process: a later freeze would also pin a finished run's objects, whose
    cycles the collector could then never free. Then the collector is on: tui.entry starts
    the program with it off."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()
    gc.enable()


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
                 prewarm: bool = True, catch_signals: bool = False,
                 interrupts_before_start: list[int] | None = None) -> None:
        """The app for `options` (command 'app'). `comparison_factory` stands in for
        Comparison (tests, benchmarks); `prewarm=False` starts no engine process early;
        `catch_signals`: SIGINT and SIGTERM end the run the way Ctrl-C does headless
        (tui.launch sets it; tests leave their own process's signals alone);
        `interrupts_before_start`: where tui.launch notes those that come before the app takes
        them (one there when it does is taken as a Ctrl-C)."""
        super().__init__()
        self.scenarios = list(options.scenarios)
        self.problems = list(options.problems)
        self.warnings = list(options.warnings)
        self.engines = dict(options.engines)
        self.draft = SettingsDraft(self.engines, dict(options.overrides), options.fixed)
        self.autorun: tuple[Scenario, RunSettings] | None = None
        if options.scenario is not None and options.settings is not None:
            self.autorun = (options.scenario, options.settings)
        self.snapshot_path = Path(options.snapshot) if options.snapshot else None
        self.comparison_factory = comparison_factory
        self.stall_timeout = options.stall_timeout
        self.user_dir = options.user_dir
        self.runs_folder = options.runs_folder
        self.export_path = Path(options.export) if options.export else None
        self.save_runs = options.save_runs
        self.telemetry = options.telemetry
        self.catch_signals = catch_signals
        self.interrupts_before_start = interrupts_before_start
        self.picker: PickerScreen | None = None
        self.snapshot_written: Path | None = None
        # Said on stderr once the app has left the terminal (tui.launch prints them).
        self.exit_notes: list[str] = []
        self.interrupted = False  # SIGINT/SIGTERM: the run is being stopped, then we exit 130
        # on_mount has pushed the first screen: before that, leaving is deferred to its end
        # (exiting while the picker mounts raced Textual's Header: a NoMatches traceback).
        self.started = False
        self.warmed_up = False  # the deferred start-up work (pre-warm, NVML) has run
        # Engine processes pre-warmed while the user chooses (DESIGN: imports paid once).
        # Only for real Comparisons in child processes; a stand-in factory gets no pool.
        self.pool: HostPool | None = None
        if prewarm and comparison_factory is None and \
                self.draft.fixed.get("isolation", "process") == "process":
            self.pool = HostPool()

    @property
    def run_options(self) -> DashboardOptions:
        """What every dashboard of this app does at the end of a run."""
        from .screens.dashboard import DashboardOptions

        return DashboardOptions(
            telemetry=self.telemetry, export_path=self.export_path,
            runs_folder=self.runs_folder if self.save_runs else None,
            keep_folder=self.runs_folder,
            announce_export=self.snapshot_path is None,
            calibration_file=calibration_file())

    # -- lifecycle -----------------------------------------------------------------------
    def on_load(self) -> None:
        # Load comes before the first screen: Ctrl-C is the app's from here on.
        if self.catch_signals:
            self._catch_signals()
            if self.interrupts_before_start:
                self.interrupts_before_start.clear()
                self.interrupt()

    async def on_mount(self) -> None:
        self.picker = PickerScreen(self.scenarios, self.draft, self.user_dir)
        await self.push_screen(self.picker)
        self.started = True
        if self.interrupted:  # Ctrl-C during start-up: leave once the picker has settled
            self.call_after_refresh(self._leave_interrupted)
            return
        if self.problems and not self.snapshot_path:
            lines = "\n".join(f"• {p}" for p in self.problems[:5])
            self.notify(f"Skipped {len(self.problems)} broken scenario file(s):\n{lines}",
                        title="Scenario folder", severity="warning", timeout=10)
        if self.warnings and not self.snapshot_path:
            self.notify("\n".join(self.warnings), title="Command line", severity="warning",
                        timeout=10)
        if self.autorun is not None:
            scenario, settings = self.autorun
            self.picker.select(scenario.name)
            self.start_run(scenario, settings, self.draft.selected_engines())
        else:
            # The picker's first frame comes first; then, once idle, the slow start-up work.
            self.call_after_refresh(self.set_timer, PREWARM_DELAY_S, self.warm_up)

    def warm_up(self) -> None:
        """Start-up work that can wait for the picker's first frames: NVML (in a background
        thread), the engine processes, and taking everything loaded so far out of the
        cyclic garbage collector's passes."""
        if self.warmed_up:
            return
        self.warmed_up = True
        if self.telemetry:
            from engines.run.telemetry import shared_nvml

            shared_nvml()
        freeze_heap()
        self.warm_engines()

    def notify(self, message: str, *, title: str = "",
               severity: SeverityLevel = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification is plain text: what it shows comes from files and engines
        (names, paths, error messages), never markup (`markup` is ignored)."""
        super().notify(printable(message), title=printable(title), severity=severity,
                       timeout=timeout, markup=False)

    def new_comparison(self, scenario: Scenario, settings: RunSettings,
                       engines: dict[str, str], telemetry: bool) -> RunDriver:
        """A Comparison (or a stand-in with the same calls, in tests and benchmarks)."""
        if self.comparison_factory is not None:
            return self.comparison_factory(scenario, settings, engines, telemetry=telemetry)
        from engines import Comparison

        if settings.isolation == "process":
            ensure_resource_tracker()
        pool = {"pool": self.pool} if self.pool is not None else {}
        return Comparison(scenario, settings, engines, telemetry=telemetry,
                          stall_timeout=self.stall_timeout, **pool)

    def warm_engines(self) -> None:
        """Start (in the background) a child process per engine that imports its framework,
        so the next run starts without paying the imports. Never while a run is going: the
        imports would compete with its measurements for the cores; never before the picker's
        first frames (warm_up)."""
        if self.pool is None or self.pool.closed or self.snapshot_path is not None or \
                not self.warmed_up or any(d.running for d in self.dashboards):
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
        from .screens.dashboard import DashboardScreen

        self.warmed_up = True  # a run takes its engines now: nothing left to pre-warm
        freeze_heap()
        if self.pool is not None:
            # Replica groups start processes of their own: a warm one would sit idle.
            self.pool.discard_except(engines.values() if settings.workers == 1 else ())
        screen = DashboardScreen(scenario, settings, engines, self.run_options)
        self.push_screen(screen)
        return screen

    @property
    def dashboards(self) -> list[DashboardScreen]:
        """Dashboards on the screen stack (at most one in practice)."""
        # The dashboard's module loads with the first run: before that there is no dashboard.
        module = sys.modules.get(f"{__package__}.screens.dashboard")
        if module is None:
            return []
        return [s for s in self.screen_stack if isinstance(s, module.DashboardScreen)]

    def stop_all_runs(self) -> None:
        """Cancel every run still going: engine processes are killed now."""
        for screen in self.dashboards:
            screen.stop_run()

    async def action_quit(self) -> None:
        self.close_engines()
        self.exit(return_code=0)

    def action_runs(self) -> None:
        """Open the list of saved runs."""
        from .screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.runs_folder))

    # -- SIGINT and SIGTERM (tui.launch) -------------------------------------------------
    def _catch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.interrupt)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                pass  # not the main thread, or no signals here: Ctrl-C raises as usual

    def interrupt(self) -> None:
        """Ctrl-C from outside the app (the only way into --snapshot): stop the run, let its
        end write the (partial) export as usual, then exit 130. A second one exits at once
        (after writing the export if the first had not yet)."""
        if self.interrupted and not self.started:
            return  # on_mount leaves as soon as its first screen is up
        if self.interrupted:
            for screen in self.dashboards:
                if screen.write_export_now():
                    self.exit_notes.append(f"partial results written to {self.export_path}")
            self.close_engines()
            self.exit(return_code=EXIT_INTERRUPTED)
            return
        self.interrupted = True
        self.exit_notes.append("interrupted: engines stopped")
        if not self.started:
            return  # on_mount leaves as soon as its first screen is up
        running = [d for d in self.dashboards if d.running or not d.final_applied]
        if not running:
            self.call_after_refresh(self._leave_interrupted)
            return
        for screen in running:
            screen.stop_run()

    def _leave_interrupted(self) -> None:
        self.close_engines()
        self.exit(return_code=EXIT_INTERRUPTED)

    # -- the end of a run ----------------------------------------------------------------
    def on_dashboard_screen_run_ended(self, message: DashboardScreen.RunEnded) -> None:
        """A dashboard's run has ended and its final figures are on screen."""
        code = message.exit_code
        if message.export_failure is not None and (self.snapshot_path or self.interrupted):
            self.exit_notes.append(f"error: {message.export_failure}")
        elif self.export_path is not None and self.interrupted and message.doc is not None:
            self.exit_notes.append(f"partial results written to {self.export_path}")
        if self.interrupted:
            code = EXIT_INTERRUPTED
        if self.snapshot_path is not None:
            self.set_timer(SNAPSHOT_SETTLE_S, lambda: self.call_after_refresh(
                self._write_snapshot, code, message))
        elif self.interrupted:
            self.close_engines()
            self.exit(return_code=code)
        else:
            self.warm_engines()  # for "run again" or the next scenario

    def _write_snapshot(self, exit_code: int, ended: DashboardScreen.RunEnded) -> None:
        from . import run_end

        path = self.snapshot_path
        assert path is not None
        try:
            run_end.write_atomically(path, self.export_screenshot())
            self.snapshot_written = path
        except (OSError, ValueError) as err:
            # The run happened: its results stay in the saved runs (saved now if they were
            # not), and the exit code says an output is missing (1), never "nothing ran" (2).
            kept = run_end.keep_results(ended.doc, ended.saved, self.runs_folder) \
                if ended.doc is not None else run_end.Kept(None, err)
            failure = run_end.failed_write_text("the snapshot", path, err, kept)
            self.exit_notes.append(f"error: {failure}")
            exit_code = exit_code or 1
        self.exit(return_code=exit_code)

    # -- keys and the command palette ----------------------------------------------------
    def key_help(self, screen: Screen) -> tuple[str, list[tuple[str, str]]]:
        """Title and rows of the keys screen for `screen`."""
        from .screens import dashboard, fairness, picker, run_compare, runs, scaling

        if isinstance(screen, dashboard.DashboardScreen):
            return "Dashboard", dashboard.KEY_HELP
        if isinstance(screen, runs.RunsScreen):
            return "Saved runs", runs.KEY_HELP
        if isinstance(screen, run_compare.CompareScreen):
            return "Two runs side by side", run_compare.KEY_HELP
        if isinstance(screen, fairness.FairnessScreen):
            return "Fairness report", fairness.KEY_HELP
        if isinstance(screen, scaling.ScalingScreen):
            return "Scaling", scaling.KEY_HELP
        return "Scenario picker", picker.KEY_HELP

    def action_show_keys(self) -> None:
        from .screens.keys import KeysScreen

        if isinstance(self.screen, KeysScreen):
            return
        title, rows = self.key_help(self.screen)
        self.push_screen(KeysScreen(title, rows))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Show keys", "Every key of this screen", self.action_show_keys)
        if isinstance(screen, PickerScreen):
            for s in self.scenarios:
                # The palette parses titles and help as markup: a scenario's name and
                # description are data, escaped.
                yield SystemCommand(f"Run {escape_markup(s.name)}", escape_markup(s.description),
                                    lambda s=s: self._run_from_palette(screen, s))
            yield SystemCommand("Filter scenarios", "Filter the list by name or description",
                                screen.action_filter)
            yield SystemCommand("Edit run settings", "Steps, batch size, task, mode, ...",
                                screen.action_edit_settings)
            yield SystemCommand("Saved runs", "Past runs: list them, compare two side by side",
                                self.action_runs)
        if screen in self.dashboards:
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
