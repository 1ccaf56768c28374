"""Replicas in the app: the picker's workers row, the engine column's replica line, the hardware
panel's replica processes, and the scaling view of a --scaling run."""

from __future__ import annotations

import pytest

from engines.distributed.report import replica_line
from scenarios import load_builtins
from tui.live_model import HardwareView
from tui.scaling_view import IDEAL, MEASURED, scaling_grid, scaling_series
from tui.settings_draft import SettingsDraft
from tui.widgets.hardware_panel import render_hardware

pytestmark = pytest.mark.timeout(60)

SCENARIOS = {s.name: s for s in load_builtins()}
FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}

SCALING_DOC = {"scaling": {
    "scale_batch": "global", "workers": [1, 2, 4],
    "pytorch": [{"workers": 1, "samples_per_s": 1000.0, "ideal_samples_per_s": 1000.0,
                 "strong_eff": 1.0},
                {"workers": 2, "samples_per_s": 1500.0, "ideal_samples_per_s": 2000.0,
                 "strong_eff": 0.75},
                {"workers": 4, "samples_per_s": 2000.0, "ideal_samples_per_s": 4000.0,
                 "strong_eff": 0.5}],
    "tensorflow": [{"workers": 1, "samples_per_s": 800.0, "ideal_samples_per_s": 800.0},
                   {"workers": "two", "samples_per_s": 1.0},  # damage: left out
                   {"workers": 4, "samples_per_s": float("nan")}],
}}


def test_scaling_series_reads_what_it_can_and_leaves_damage_out():
    kind, series = scaling_series(SCALING_DOC)
    assert kind == "global"
    pt, tf = series
    assert pt.workers == (1, 2, 4) and pt.efficiency == (1.0, 0.75, 0.5)
    assert tf.workers == (1, 4) and tf.rates == (800.0, None)
    assert scaling_series({"scaling": "nonsense"}) == ("", [])


def test_scaling_grid_draws_measured_points_under_the_ideal_line():
    _, series = scaling_series(SCALING_DOC)
    grid, top, counts = scaling_grid(series[:1], 31, 11)
    assert counts == [1, 2, 4] and top == pytest.approx(4000 * 1.05)
    rows_of = {}
    for r, cells in enumerate(grid):
        for c, (char, index) in enumerate(cells):
            rows_of.setdefault(char, []).append((r, c))
    assert len(rows_of[MEASURED]) == 3
    # At 4 workers (last column) the ideal (4000) is drawn above the measured point (2000).
    last = len(grid[0]) - 1
    ideal_rows = [r for r, c in rows_of[IDEAL] if c == last]
    measured_rows = [r for r, c in rows_of[MEASURED] if c == last]
    assert ideal_rows and measured_rows and min(ideal_rows) < min(measured_rows)


def test_picker_offers_workers_up_to_the_cores_and_refuses_what_does_not_fit():
    draft = SettingsDraft(FAKES, cpu_count=2)
    sc = SCENARIOS["mlp"]
    assert draft.value("workers", sc) == 1
    draft.change("workers", +1, sc)
    draft.change("workers", +1, sc)  # capped at the cores
    assert draft.value("workers", sc) == 2
    settings, why = draft.resolve(sc)
    assert why is None and settings.workers == 2
    draft.overrides["batch_size"] = 33
    settings, why = draft.resolve(sc)
    assert settings is None and "does not split into 2" in why


def test_replica_line_before_and_after_steps():
    block = {"replicas": 2, "threads_per_replica": 1, "backend": "gloo",
             "per_replica": [{"rank": 0, "median_step_s": None}, {"rank": 1}]}
    assert replica_line(block) == "2 replicas x 1 thread(s) · gloo"
    block["per_replica"] = [{"rank": 0, "median_step_s": 0.0121},
                            {"rank": 1, "median_step_s": 0.0123}]
    block["allreduce_share"] = 0.2
    assert replica_line(block) == "2 replicas: r0 12.1 ms · r1 12.3 ms · all-reduce 20%"
    assert replica_line(None) is None


def test_hardware_panel_lists_every_replica_process():
    sample = {"cpu_pct": 90.0, "mem_used": 2**30, "engines": {
        "pytorch": {"cpu_pct": 180.0, "rss": 600 * 2**20, "replicas": [
            {"rank": 0, "pid": 101, "cpu_pct": 95.0, "rss": 300 * 2**20},
            {"rank": 1, "pid": 102, "cpu_pct": 85.0, "rss": 300 * 2**20}]}}}
    view = HardwareView(enabled=True, sample=sample, labels={"pytorch": "PyTorch"},
                        gpu_status="no GPU")
    text = render_hardware(view).plain
    assert "(2 replicas)" in text
    assert "r0 95% 300 MiB pid 101" in text and "r1 85% 300 MiB pid 102" in text


@pytest.mark.slow
async def test_the_runs_screen_opens_a_scaling_run(tmp_path, monkeypatch):
    from tui.cli import main
    from tui.screens.runs import RunsScreen
    from tui.screens.scaling import ScalingScreen
    from tui.testing import app_for, screen_text, settle, wait_for

    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--steps", "20",
                 "--scaling", "1,2"]) == 0
    app = app_for("--no-telemetry")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")  # the picker's key for saved runs
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded)
        await settle(pilot)
        await pilot.press("s")  # the scaling view of the run under the cursor
        await wait_for(pilot, lambda: isinstance(app.screen, ScalingScreen))
        await settle(pilot)
        text = screen_text(app)
        assert "samples/s against workers" in text and "strong eff" in text
        assert "PyTorch measured" in text and "ideal" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


def test_every_replica_process_is_sampled_with_its_gpu_memory():
    import os
    import subprocess
    import sys

    from fake_nvml import FakeGPU, FakeNVML

    from engines.run.telemetry import NVML, TelemetrySampler

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        me = os.getpid()
        gpus = [FakeGPU(processes=[(me, 3 * 2**30)]),
                FakeGPU(name="NVIDIA Other", processes=[(other.pid, 2 * 2**30)])]
        sampler = TelemetrySampler(lambda: {"pytorch": me}, lambda s: None,
                                   nvml=NVML(FakeNVML(gpus), background=False),
                                   replica_pids=lambda: {"pytorch": [me, other.pid]})
        sample = sampler.sample()
    finally:
        other.kill()
        other.wait()
    replicas = sample["engines"]["pytorch"]["replicas"]
    assert [(r["rank"], r["pid"]) for r in replicas] == [(0, me), (1, other.pid)]
    assert sample["engines"]["pytorch"]["rss"] == sum(r["rss"] for r in replicas)
    assert sample["gpus"][0]["engine_mem"]["pytorch"] == 3 * 2**30
    assert sample["gpus"][1]["engine_mem"]["pytorch/r1"] == 2 * 2**30
    view = HardwareView(enabled=True, sample=sample, labels={"pytorch": "PyTorch"},
                        gpu_status="ok", device="cuda")
    text = render_hardware(view).plain
    assert "GPU0 3 GiB" in text and "GPU1 2 GiB" in text
