"""Snapshot tests (pytest-textual-snapshot): seeded fake engines, telemetry off or injected,
and only finished runs, so every picture is byte-stable run after run.

Update the pictures after a deliberate change with `pytest tests/test_tui_snapshots.py
--snapshot-update`, and look at them (the report pytest writes on a failure shows the diff).
"""

from __future__ import annotations

import pytest

from scenarios import discover
from tui.app import FwCompareApp
from tui.testing import FAKE_ENGINES, GPU_SAMPLE, injected_telemetry, run_complete, settle, \
    wait_for

pytestmark = pytest.mark.timeout(120)

NO_GPU_SAMPLE = {**GPU_SAMPLE, "gpus": []}


def make_app(*, run: str | None = None, steps: int = 120, faults=None, telemetry=None,
             gpu_status: str = "ok") -> FwCompareApp:
    """An app on the built-in scenarios with fake engines; `run` starts a scenario at once."""
    from engines.base import settings_for

    scenarios, _ = discover([], None)
    fixed = {"isolation": "thread", "faults": faults or {}}
    autorun = None
    if run:
        scenario = next(s for s in scenarios if s.name == run)
        autorun = (scenario, settings_for(scenario, steps=steps, threads=1, **fixed))
    factory = injected_telemetry(telemetry, gpu_status) if telemetry is not None else None
    return FwCompareApp(scenarios, [], dict(FAKE_ENGINES), overrides={"threads": 1},
                        fixed=fixed, telemetry=telemetry is not None, autorun=autorun,
                        comparison_factory=factory)


async def until_run_complete(pilot) -> None:
    await wait_for(pilot, lambda: run_complete(pilot.app), timeout=30)
    await settle(pilot)


class TestPicker:
    def test_picker_at_80x24(self, snap_compare):
        assert snap_compare(make_app(), terminal_size=(80, 24))

    def test_editing_settings(self, snap_compare):
        # s: focus the settings; 5 0: type 50 steps; down, down, down: the task row;
        # right: train -> infer (the detail pane's FLOP estimate follows).
        assert snap_compare(make_app(), press=["s", "5", "0", "down", "down", "down", "right"],
                            terminal_size=(100, 30))

    def test_filtered_list(self, snap_compare):
        # /: filter; "reg": only the regression scenario; enter: back to the list.
        assert snap_compare(make_app(), press=["slash", "r", "e", "g", "enter"],
                            terminal_size=(100, 30))


class TestDashboard:
    def test_finished_run_at_80x24(self, snap_compare):
        assert snap_compare(make_app(run="mlp"), terminal_size=(80, 24),
                            run_before=until_run_complete)

    def test_finished_run_with_gpu_telemetry_at_120x40(self, snap_compare):
        assert snap_compare(make_app(run="mlp", steps=300, telemetry=[GPU_SAMPLE]),
                            terminal_size=(120, 40), run_before=until_run_complete)

    def test_no_nvidia_driver_shows_cpu_side(self, snap_compare):
        app = make_app(run="regression", steps=200, telemetry=[NO_GPU_SAMPLE],
                       gpu_status="no NVIDIA GPU (driver not found)")
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)

    def test_failed_engine(self, snap_compare):
        app = make_app(run="cnn", steps=100, faults={"tensorflow": "nan@40"})
        assert snap_compare(app, terminal_size=(100, 30), run_before=until_run_complete)

    def test_log_scale(self, snap_compare):
        # l: the loss chart switches to a log scale.
        assert snap_compare(make_app(run="lstm", steps=200), press=["l"],
                            terminal_size=(100, 30), run_before=until_run_complete)

    def test_keys_screen(self, snap_compare):
        # ?: every key of the dashboard.
        assert snap_compare(make_app(run="mlp", steps=40), press=["question_mark"],
                            terminal_size=(100, 30), run_before=until_run_complete)
