"""Pilot tests: drive the app by keys as a user would, with seeded fake engines."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from engines.results.document import build_results
from scenarios import ScenarioError, load_builtins
from tui.screens.dashboard import DashboardScreen
from tui.screens.export import ExportScreen
from tui.screens.keys import KeysScreen
from tui.screens.picker import PickerScreen
from tui.testing import (
    SLOW_FAKES,
    Notifications,
    app_for,
    run_complete,
    screen_text,
    settle,
    wait_for,
)
from tui.widgets.engine_column import EngineColumn
from tui.widgets.loss_chart import LossChart
from tui.widgets.run_settings_form import RunSettingsForm
from tui.widgets.scenario_list import ScenarioList

pytestmark = pytest.mark.timeout(60)


# Fake engines in the app's worker threads, no telemetry: what most of these tests drive.
QUIET = ("--in-process", "--no-telemetry")


def engine_children() -> set[int]:
    """Engine processes started by this test process (the resource tracker excluded)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def current(app) -> str:
    return app.screen.query_one(ScenarioList).current.name


# -- picker -----------------------------------------------------------------------------------

async def test_arrows_and_jk_move_the_cursor_and_the_detail_follows():
    app = app_for(*QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, PickerScreen)
        assert current(app) == "mlp"
        await pilot.press("down")  # arrow moves down
        assert current(app) == "cnn"
        await pilot.press("j")  # vi key moves down
        assert current(app) == "lstm"
        await pilot.press("k", "up")  # and back up twice
        assert current(app) == "mlp"
        await pilot.press("j")
        await pilot.pause()
        text = screen_text(app)
        assert "conv2d 16@3x3" in text  # the layer table of the highlighted scenario
        assert "params" in text and "FLOP" in text


async def test_slash_filters_and_escape_clears():
    app = app_for(*QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", "l", "s", "t")  # filter on "lst"
        scenario_list = app.screen.query_one(ScenarioList)
        assert scenario_list.option_count == 1
        assert current(app) == "lstm"
        await pilot.press("enter")  # keep the filter, back to the list
        assert scenario_list.has_focus
        await pilot.press("escape")  # clear it
        assert scenario_list.option_count == len(load_builtins())  # every one again
        assert current(app) == "lstm"  # the cursor stays on the scenario


async def test_typing_q_into_the_filter_does_not_quit():
    app = app_for(*QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", "q")
        assert app.is_running
        assert app.screen.query_one("#filter").value == "q"


@pytest.mark.slow
async def test_settings_are_edited_from_the_keyboard_and_used_by_the_run():
    app = app_for(*QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")  # focus the run settings
        form = app.screen.query_one(RunSettingsForm)
        assert form.has_focus and form.current_key == "steps"
        await pilot.press("4", "0")  # type 40 steps
        await pilot.press("down", "right")  # batch size: one step up the ladder (128 -> 256)
        await pilot.press("down", "backspace")  # warm-up: delete the digit -> default
        await pilot.press("down", "right")  # task: train -> infer
        await pilot.press("j", "right", "right")  # mode: eager -> compiled -> xla
        await pilot.press("j", "right")  # schedule: alternate -> sequential
        await pilot.press("j", "j", "j", "left")  # past device, precision; threads: 1 stays 1
        await pilot.press("j")  # past workers (data-parallel replicas)
        await pilot.press("j", "right")  # input: memory -> native
        await pilot.press("j", "right", "right")  # loader workers: auto -> 0 -> 1
        await pilot.press("j", "right")  # engines: both -> PyTorch only
        await pilot.press("enter")  # run
        await wait_for(pilot, lambda: run_complete(app))
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        s = screen.settings
        assert (s.steps, s.batch_size, s.task, s.mode, s.schedule, s.threads) == \
            (40, 256, "infer", "xla", "sequential", 1)
        assert (s.input_pipeline, s.loader_workers) == ("native", 1)
        assert list(screen.engines) == ["pytorch"]
        view = screen.query_one(EngineColumn).view
        assert view.status == "done" and view.steps_done == 40
        assert "needs two engines" in screen_text(app)


@pytest.mark.slow
async def test_settings_that_do_not_fit_the_scenario_block_the_run():
    app = app_for(*QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "down", "9", "9", "9", "9", "9")  # batch 99999 > 4096 samples
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        assert "exceeds" in (app.screen.query_one(RunSettingsForm).error or "")
        await pilot.press("delete")  # back to the scenario's batch size
        assert app.screen.query_one(RunSettingsForm).error is None


# -- dashboard ----------------------------------------------------------------------------------

@pytest.mark.slow
async def test_run_export_back_and_quit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = app_for(*QUIET, "--steps", "60")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")  # run mlp
        await wait_for(pilot, lambda: run_complete(app))
        dash = app.screen
        for col in dash.query(EngineColumn):
            # Paired turns: each engine does at least the run's steps.
            assert col.view.status == "done" and col.view.steps_done >= 60
        text = screen_text(app)
        assert "within" in text and "faster per step" in text and "95% CI" in text
        await pilot.press("e")  # export
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        target = tmp_path / "out.json"
        box = app.screen.query_one("#export-path")
        box.value = str(target)
        await pilot.press("enter")  # write it
        await wait_for(pilot, target.exists)
        doc = json.loads(target.read_text())
        assert doc == json.loads(json.dumps(build_results(dash.state)))
        assert doc["engines"]["pytorch"]["summary"]["steps_done"] >= 60
        await pilot.press("b")  # back to the picker
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("q")  # quit
        await settle(pilot)
    assert app.return_code == 0


@pytest.mark.slow
async def test_escape_in_the_export_dialog_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = app_for(*QUIET, "--steps", "30")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("escape")  # cancel the dialog
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert list(tmp_path.iterdir()) == []


async def test_a_failed_engine_is_shown_failed_while_the_other_finishes():
    app = app_for(*QUIET, "--fault", "tensorflow=nan@20", "--steps", "80")
    ended = []  # the dashboard tells the app that a run ended with a message, not a call

    def hook(message):
        if isinstance(message, DashboardScreen.RunEnded):
            ended.append(message.exit_code)

    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        cols = {c.engine: c for c in app.screen.query(EngineColumn)}
        assert cols["pytorch"].view.status == "done"
        assert cols["pytorch"].view.steps_done == 80
        assert cols["tensorflow"].view.status == "failed"
        assert "NaN" in cols["tensorflow"].view.error
        assert cols["tensorflow"].has_class("-failed")
        text = screen_text(app)
        assert "failed" in text and "loss became NaN at step 20" in text
        assert app.screen.state.exit_code() == 1
        await wait_for(pilot, lambda: ended)
        assert set(ended) == {1}


@pytest.mark.slow
async def test_an_unavailable_engine_says_why():
    app = app_for(*QUIET, "--fault", "pytorch=unavailable", "--steps", "30")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        text = screen_text(app)
        assert "unavailable" in text and "not installed" in text


@pytest.mark.slow
async def test_cancel_kills_the_engine_processes_and_rerun_starts_again():
    app = app_for("--no-telemetry", *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0, timeout=30)
        children = engine_children()
        assert len(children) == 2
        await pilot.press("c")  # cancel
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                       for p in children)
        await wait_for(pilot, lambda: dash.final_applied)
        for col in dash.query(EngineColumn):
            assert col.view.status == "cancelled"
        first_run = dash.comparison
        await pilot.press("r")  # run again
        await settle(pilot)
        assert dash.comparison is not first_run and dash.running
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0, timeout=30)
        await pilot.press("c")
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)


@pytest.mark.slow
async def test_quit_mid_run_is_fast_and_leaves_no_engine_process():
    app = app_for("--no-telemetry", *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0, timeout=30)
        children = engine_children()
        assert children
        t0 = time.perf_counter()
        await pilot.press("q")
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in children):
        time.sleep(0.05)
    alive = [p for p in children if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []


@pytest.mark.slow
async def test_back_mid_run_cancels_it():
    app = app_for(*QUIET, *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)


@pytest.mark.slow
async def test_log_scale_and_wall_time_toggles():
    app = app_for(*QUIET, "--steps", "60")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        chart = app.screen.query_one(LossChart)
        assert "linear" in str(chart.border_title) and "by step" in str(chart.border_title)
        await pilot.press("l")  # log scale
        await settle(pilot)
        assert chart.log_scale and "log" in str(chart.border_title)
        await pilot.press("x")  # x-axis: wall time
        await settle(pilot)
        assert chart.x_unit == "s" and "wall time" in str(chart.border_title)
        assert "wall time" in screen_text(app)


@pytest.mark.slow
async def test_resizing_mid_run_keeps_working():
    app = app_for(*QUIET, *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0)
        for size in ((160, 50), (80, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            await settle(pilot, 2)
            text = screen_text(app)
            assert "PyTorch" in text and "TensorFlow" in text and "Parity" in text
        await pilot.press("c")
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)


@pytest.mark.slow
async def test_the_keys_screen_lists_every_binding_of_the_screen_below():
    app = app_for(*QUIET, "--steps", "20")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")  # keys of the picker
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        text = screen_text(app)
        for binding in PickerScreen.BINDINGS + RunSettingsForm.BINDINGS:
            for key in binding.key.split(","):
                shown = {"slash": "/", "backspace": "backspace", "up": "↑", "down": "↓",
                         "left": "←", "right": "→"}.get(key, key)
                assert shown in text, key
        await pilot.press("escape")
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        await pilot.press("question_mark")  # keys of the dashboard
        await settle(pilot)
        text = screen_text(app)
        for binding in DashboardScreen.BINDINGS:
            assert binding.key.split(",")[0] in text
        assert "ctrl+p" in text and "quit" in text


@pytest.mark.slow
async def test_the_command_palette_runs_a_scenario():
    app = app_for(*QUIET, "--steps", "20")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"run lstm")
        await settle(pilot, 5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        assert app.screen.scenario.name == "lstm"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Run again", "Export results", "Back to the picker", "Toggle log scale",
                "Toggle x-axis"} <= set(titles)


async def test_scenario_file_problems_are_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n")
    problems = (ScenarioError("missing [data]", source=str(bad)),)
    app = app_for(*QUIET, problems=problems)
    notes = Notifications()
    async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
        await settle(pilot)
        assert any("bad.toml" in n for n in notes)


class FlakyNVML:
    """An NVML that answers once, then fails on every query (a GPU falling off the bus)."""

    available = True
    reason = ""
    count = 1

    def __init__(self) -> None:
        self.calls = 0

    def gpus(self):
        return [{"index": 0, "name": "Flaky GPU", "memory_total": 16 * 2**30}]

    def sample(self, pids):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("NVMLError_GpuIsLost")
        return [{"index": 0, "util_pct": 50, "mem_used": 2**30, "mem_total": 16 * 2**30,
                 "power_w": 100.0, "temp_c": 50, "engine_mem": {}}]


@pytest.mark.slow
async def test_an_nvml_error_mid_run_never_stops_the_run():
    from engines import Comparison

    nvml = FlakyNVML()

    def factory(scenario, settings, engines, telemetry=True):
        return Comparison(scenario, settings, engines, telemetry=True, telemetry_hz=20,
                          nvml=nvml)

    app = app_for("--in-process", *SLOW_FAKES, "--steps", "40", comparison_factory=factory)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app), timeout=30)
        assert nvml.calls > 1  # NVML failed during the run...
        for col in app.screen.query(EngineColumn):
            assert col.view.status == "done"  # ...and both engines finished anyway
        assert "CPU" in screen_text(app)


@pytest.mark.parametrize("signals", [1, 2])
async def test_ctrl_c_before_the_first_screen_leaves_once_it_is_up(signals):
    """SIGINT during start-up (tui.launch routes it to app.interrupt) must not exit while the
    picker mounts: that raced Textual's Header into a NoMatches traceback on CI."""
    app = app_for(*QUIET, *SLOW_FAKES, "--steps", "100000", "--scenario", "mlp")

    class InterruptedEarly(type(app)):
        def on_load(self) -> None:
            for _ in range(signals):
                self.interrupt()

    app.__class__ = InterruptedEarly
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None, timeout=10)
    assert app.return_code == 130
    assert app.dashboards == [] and app.picker is not None
    assert app.exit_notes == ["interrupted: engines stopped"]
