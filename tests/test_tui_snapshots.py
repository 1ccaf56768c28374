"""Snapshot tests (pytest-textual-snapshot): seeded fake engines, telemetry off or injected,
and only finished runs, so every picture is byte-stable run after run.

Update the pictures after a deliberate change with `pytest tests/test_tui_snapshots.py
--snapshot-update`, and look at them (the report pytest writes on a failure shows the diff).
"""

from __future__ import annotations

import time

import pytest

from tui.testing import (
    GPU_SAMPLE,
    app_for,
    injected_telemetry,
    run_complete,
    settle,
    wait_for,
    write_known_runs,
    xla_on_tensorflow,
)

pytestmark = pytest.mark.timeout(120)

NO_GPU_SAMPLE = {**GPU_SAMPLE, "gpus": []}


# Fake engines in the app's worker threads. Telemetry is off, or injected as fixed samples.
QUIET = ("--in-process", "--no-telemetry")


def run_of(scenario: str, steps: int, *argv: str) -> tuple[str, ...]:
    """Options that open the app on `scenario`'s dashboard, running at once."""
    return ("--in-process", "--scenario", scenario, "--steps", str(steps), *argv)


@pytest.fixture
def known_runs(tmp_path, monkeypatch):
    """Two known saved runs and a corrupt file in ./runs (a relative folder, so the picture
    names the same folder everywhere), with local time in UTC."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    write_known_runs(tmp_path / "runs")
    yield
    monkeypatch.undo()
    time.tzset()


async def open_saved_runs(pilot) -> None:
    from tui.screens.runs import RunsScreen

    await pilot.press("r")  # the picker's key for saved runs
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen)
                   and pilot.app.screen.loaded)
    await settle(pilot)


async def until_run_complete(pilot) -> None:
    await wait_for(pilot, lambda: run_complete(pilot.app), timeout=30)
    await settle(pilot)


class TestPicker:
    def test_picker_at_80x24(self, snap_compare):
        assert snap_compare(app_for(*QUIET), terminal_size=(80, 24))

    @pytest.mark.slow
    def test_editing_settings(self, snap_compare):
        # s: focus the settings; 5 0: type 50 steps; down, down, down: the task row;
        # right: train -> infer (the detail pane's FLOP estimate follows).
        assert snap_compare(app_for(*QUIET),
                            press=["s", "5", "0", "down", "down", "down", "right"],
                            terminal_size=(100, 30))

    @pytest.mark.slow
    def test_filtered_list(self, snap_compare):
        # /: filter; "reg": only the regression scenario; enter: back to the list.
        assert snap_compare(app_for(*QUIET), press=["slash", "r", "e", "g", "enter"],
                            terminal_size=(100, 30))


class TestDashboard:
    def test_finished_run_at_80x24(self, snap_compare):
        app = app_for(*run_of("mlp", 120, "--no-telemetry"))
        assert snap_compare(app, terminal_size=(80, 24), run_before=until_run_complete)

    @pytest.mark.slow
    def test_finished_run_with_gpu_telemetry_at_120x40(self, snap_compare):
        app = app_for(*run_of("mlp", 300), comparison_factory=injected_telemetry([GPU_SAMPLE]))
        assert snap_compare(app, terminal_size=(120, 40), run_before=until_run_complete)

    @pytest.mark.slow
    def test_no_nvidia_driver_shows_cpu_side(self, snap_compare):
        app = app_for(*run_of("regression", 200), comparison_factory=injected_telemetry(
            [NO_GPU_SAMPLE], "no NVIDIA GPU (driver not found)"))
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)

    def test_failed_engine(self, snap_compare):
        app = app_for(*run_of("cnn", 100, "--no-telemetry", "--fault", "tensorflow=nan@40"))
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)

    def test_log_scale(self, snap_compare):
        # l: the loss chart switches to a log scale.
        assert snap_compare(app_for(*run_of("lstm", 200, "--no-telemetry")), press=["l"],
                            terminal_size=(100, 30), run_before=until_run_complete)

    @pytest.mark.slow
    def test_keys_screen(self, snap_compare):
        # ?: every key of the dashboard.
        assert snap_compare(app_for(*run_of("mlp", 40, "--no-telemetry")),
                            press=["question_mark"], terminal_size=(100, 30),
                            run_before=until_run_complete)

    @pytest.mark.slow
    def test_fairness_report_with_a_warning(self, snap_compare):
        # f: the fairness report over a run whose TensorFlow side reported XLA on.
        app = app_for(*run_of("mlp", 60, "--no-telemetry"),
                      comparison_factory=xla_on_tensorflow)
        assert snap_compare(app, press=["f"], terminal_size=(120, 40),
                            run_before=until_run_complete)

    def test_run_with_held_out_evaluations(self, snap_compare):
        # digits evaluates every 50 steps: each column shows its latest held-out accuracy.
        app = app_for(*run_of("digits", 200, "--no-telemetry"))
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)

    def test_inference_run(self, snap_compare):
        app = app_for(*run_of("mlp", 120, "--no-telemetry", "--task", "infer"))
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)


class TestSavedRuns:
    @pytest.mark.slow
    def test_runs_list(self, snap_compare, known_runs):
        async def before(pilot):
            await open_saved_runs(pilot)
            await pilot.press("space")  # mark the newest run A
            await settle(pilot)

        assert snap_compare(app_for(*QUIET), terminal_size=(120, 30), run_before=before)

    @pytest.mark.slow
    def test_two_runs_side_by_side(self, snap_compare, known_runs):
        from tui.screens.run_compare import CompareScreen

        async def before(pilot):
            await open_saved_runs(pilot)
            # down, space: the older run is A; up, space: the newer is B; enter: compare.
            await pilot.press("down", "space", "up", "space", "enter")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen))
            await settle(pilot)

        assert snap_compare(app_for(*QUIET), terminal_size=(120, 40), run_before=before)
