"""What the input pipelines' measurements become, without a framework: the steady wait share
and its verdict, the export block, the fairness line, the headless report, the dashboard's
input line and the hardware panel's loader workers."""

from __future__ import annotations

import subprocess
import sys
from array import array

import psutil
import pytest

from engines.pipelines.feed import InputFeed, input_block, sweep_workers
from engines.results.fairness import fairness_report
from engines.run.state import PHASE_CODE, EngineState
from engines.run.telemetry import TelemetrySampler
from tui.input_report import input_lines
from tui.live_model import EngineView, HardwareView
from tui.widgets.engine_column import input_line, render_view
from tui.widgets.hardware_panel import cpu_line


def test_wait_share_counts_steady_steps_only():
    es = EngineState("pytorch", "pytorch")
    phases = ["first", "warmup", "steady", "steady", "resume", "steady"]
    es.times = array("d", [1.0, 0.1, 0.01, 0.01, 0.5, 0.02])
    es.phase_codes = array("b", [PHASE_CODE[p] for p in phases])
    es.input_waits = array("d", [0.9, 0.05, 0.002, 0.001, 0.4, 0.005])
    assert es.input_wait_share() == pytest.approx(0.008 / 0.04)
    assert es.input_compute_median() == pytest.approx(0.009)  # 0.008, 0.009, 0.015
    assert EngineState("tensorflow", "tensorflow").input_wait_share() is None
    assert EngineState("tensorflow", "tensorflow").input_compute_median() is None


def test_the_export_block_has_the_verdict_at_ten_percent():
    measured = {"first_batch_s": 2.0, "loader_samples_per_s": 9000.0,
                "loader_first_batch_s": 1.9, "config": {"workers": 2}, "sweep": [{"workers": 0}]}
    block = input_block(measured, 0.11)
    assert block["input_bound"] is True and block["wait_share"] == 0.11
    assert block["config"] == {"workers": 2} and block["sweep"] == [{"workers": 0}]
    assert input_block(measured, 0.09)["input_bound"] is False
    # The loader alone against the step's own compute: 9,000 < 128 / 0.01 s = 12,800.
    both = input_block(measured, 0.3, compute_s=0.01, batch_size=128)
    assert both["model_samples_per_s"] == pytest.approx(12_800)
    assert both["loader_keeps_up"] is False
    assert input_block(measured, 0.3, 0.02, 128)["loader_keeps_up"] is True
    assert input_block(None, None) == {
        "compute_median_s": None, "model_samples_per_s": None, "loader_keeps_up": None,
        "first_batch_s": None, "loader_samples_per_s": None, "loader_first_batch_s": None,
        "wait_share": None, "input_bound": None, "config": None}


def test_sweep_goes_from_zero_to_the_runs_workers():
    assert sweep_workers(3) == [0, 1, 2, 3]
    assert sweep_workers("auto") == [0, 1, 2]


class _Loader:
    def __init__(self, batches):
        self.batches = iter(batches)
        self.closed = False

    def next(self):
        return next(self.batches)

    def close(self):
        self.closed = True


def test_the_feed_hands_out_the_first_batch_and_times_each_wait():
    opened = []

    def open_loader(workers, naive):
        opened.append(_Loader(range(100)))
        return opened[-1]

    feed = InputFeed(open_loader, 2, 8, lambda w, naive: {"workers": w}, lambda err: None)
    run = feed.benchmark(1, max_s=0.05, max_batches=10)
    assert run.batches == 10 and run.samples_per_s > 0 and opened[0].closed
    assert feed.start() >= 0
    assert [feed.next(), feed.next()] == [0, 1]
    assert feed.wait_s >= 0

    def broken(workers, naive):
        raise RuntimeError("worker gone\nmore")

    with pytest.raises(Exception, match="^input pipeline: RuntimeError: worker gone$"):
        InputFeed(broken, 0, 8, dict, lambda err: None).next()


def _doc(pipeline="native"):
    torch_cfg = {"library": "torch.utils.data.DataLoader", "workers": 2, "prefetch": 4,
                 "persistent_workers": True, "pin_memory": False, "deterministic": True}
    tf_cfg = {"library": "tf.data", "map_parallel_calls": "AUTOTUNE", "prefetch": "AUTOTUNE",
              "default_optimizations": True, "autotune": True, "deterministic": True}
    return {
        "settings": {"batch_size": 32, "input": {"pipeline": pipeline, "workers": 2,
                                                 "prefetch": "auto"}},
        "scenario": {"data": {"samples": 1797}},
        "engines": {
            "pytorch": {"config": {}, "input": {**input_block(
                {"first_batch_s": 2.5, "loader_samples_per_s": 19000.0, "config": torch_cfg},
                0.4)}},
            "tensorflow": {"config": {}, "input": {**input_block(
                {"first_batch_s": 0.07, "loader_samples_per_s": 30000.0, "config": tf_cfg},
                0.05)}},
        },
        "loader_sweep": {"pytorch": [{"workers": 0, "samples_per_s": 47000.0,
                                      "first_batch_s": 0.002}],
                         "tensorflow": [{"workers": 0, "samples_per_s": 29000.0,
                                         "first_batch_s": 0.06}]},
    }


def test_fairness_names_both_pipelines_settings():
    report = fairness_report(_doc())
    row = next(r for r in report.rows if r.key == "input")
    assert row.values["pytorch"] == ("DataLoader: 2 worker process(es) (spawn), prefetch 4 "
                                     "batches, persistent on, pin_memory off, no autotune, "
                                     "deterministic order")
    assert row.values["tensorflow"] == ("tf.data: parallel map (AUTOTUNE), prefetch AUTOTUNE, "
                                        "default optimisations on, autotune on, deterministic "
                                        "order")
    assert not row.flagged
    assert any("each framework's own input pipeline (native)" in m for m in report.measures)
    naive = fairness_report(_doc("naive"))
    assert any("autotuning switched off" in m for m in naive.measures)
    memory = fairness_report({**_doc("memory"), "engines": {}})
    assert not any(r.key == "input" for r in memory.rows)


def test_headless_report_lines():
    lines = input_lines(_doc())
    assert lines[0] == ("input (native) PyTorch: first batch 2.5 s, loader alone 19,000 "
                        "samples/s, waited 40% of its steady step time: input-bound")
    assert lines[1].startswith("  DataLoader: 2 worker process(es) (spawn), prefetch 4")
    assert lines[2].endswith("waited 5% of its steady step time: not input-bound")
    assert lines[3].startswith("  tf.data: parallel map (AUTOTUNE)")
    assert lines[4] == "loader sweep (the loader alone, no model):"
    assert "47,000" in lines[6] and "29,000" in lines[6]
    assert input_lines({"settings": {}, "engines": {"pytorch": {}}}) == []


def _view(**over) -> EngineView:
    base = dict(name="pytorch", label="PyTorch", task="train", version="", status="running",
                stage="running", error=None, steps_done=10, steps_total=100, eta_s=None,
                loss=1.0, median_s=1e-3, iqr_s=1e-5, p90_s=None, p99_s=None,
                samples_per_s=1.0, unstable=False, first_step_s=0.1, import_s=1.0,
                prewarmed=False, build_s=0.1, peak_rss=None, device_peak=None, final=False)
    return EngineView(**{**base, **over})


def test_the_engine_column_shows_the_input_wait_share_with_its_verdict():
    view = _view(input_pipeline="native", input_wait_share=0.42, input_first_batch_s=2.0,
                 loader_samples_per_s=19000.0)
    assert input_line(view).plain == ("input-bound: wait 42 % · first batch 2 s · loader "
                                      "19k/s")
    assert "input wait 3 %" in render_view(
        _view(input_pipeline="native", input_wait_share=0.03), 80).plain
    assert input_line(_view(input_pipeline="naive")).plain == "input wait —"
    assert "input " not in render_view(_view(), 80).plain  # batches in memory: no line


def test_the_hardware_panel_lists_an_engines_loader_workers():
    sample = {"cpu_pct": 90.0, "mem_used": 2**30, "engines": {
        "pytorch": {"cpu_pct": 80.0, "rss": 2**28, "workers": 2, "workers_cpu_pct": 60.0,
                    "workers_rss": 2**27},
        "tensorflow": {"cpu_pct": 50.0, "rss": 2**28}}}
    view = HardwareView(True, None, sample, {"pytorch": "PyTorch", "tensorflow": "TensorFlow"})
    text = cpu_line(view).plain
    assert "PyTorch 80% 256 MiB + 2 loader workers 60% 128 MiB" in text
    assert "TensorFlow 50% 256 MiB  " in text + "  " and "TensorFlow 50% 256 MiB +" not in text


def test_telemetry_counts_an_engines_child_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = TelemetrySampler(lambda: {}, lambda s: None)
        found = sampler._workers(psutil.Process())
        assert found["workers"] >= 1 and found["workers_rss"] > 0
        assert sampler._workers(psutil.Process(child.pid)) == {}
    finally:
        child.kill()
        child.wait()


def test_the_picker_offers_the_pipeline_and_its_workers():
    from scenarios import load_builtins
    from tui.settings_draft import SettingsDraft

    scenarios = {s.name: s for s in load_builtins()}
    draft = SettingsDraft({"pytorch": "pytorch", "tensorflow": "tensorflow"})
    aug, mlp = scenarios["cnn-augmented"], scenarios["mlp"]
    assert draft.display("input_pipeline", aug) == "native"  # the scenario's [input]
    assert draft.display("input_pipeline", mlp) == "memory"
    draft.change("input_pipeline", 1, aug)  # native -> naive
    draft.change("loader_workers", 1, aug)  # auto -> 0
    draft.change("loader_workers", 1, aug)  # 0 -> 1
    settings, why = draft.resolve(aug)
    assert why is None
    assert (settings.input_pipeline, settings.loader_workers) == ("naive", 1)


def test_the_line_sets_the_pickers_pipeline(monkeypatch, tmp_path):
    from tui.cli import parse_options

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    options = parse_options(["--fake", "--input", "naive", "--loader-workers", "2"])
    assert options.overrides["input_pipeline"] == "naive"
    assert options.overrides["loader_workers"] == 2


def test_the_step_time_chart_marks_each_engines_input_wait():
    from engines.settings import RunSettings
    from scenarios import load_builtins
    from tui.live_model import DashboardModel
    from tui.widgets.step_time_chart import input_wait_markup

    scenario = next(s for s in load_builtins() if s.name == "cnn-augmented")
    engines = ["pytorch", "tensorflow"]
    model = DashboardModel(scenario, RunSettings(input_pipeline="native"), engines)
    model.tracks["pytorch"].input_wait_share = 0.42
    text = input_wait_markup(model)
    assert "wait" in text and "42 %[/][yellow]▲[/]" in text and "–" in text
    model.tracks["tensorflow"].input_wait_share = 0.05
    assert "5 %[/]" in input_wait_markup(model) and input_wait_markup(model).count("▲") == 1
    assert input_wait_markup(DashboardModel(scenario, RunSettings(), engines)) == ""


def test_comparing_two_runs_shows_their_pipelines_and_waits():
    from engines.results.diff import compare_runs

    naive = _doc("naive")
    cmp = compare_runs(naive, _doc())
    rows = {(r.section, r.label): (r.a, r.b) for r in cmp.rows}
    assert rows[("settings", "input")] == ("naive, workers 2, prefetch auto",
                                           "native, workers 2, prefetch auto")
    assert rows[("PyTorch", "input wait")] == ("40% (input-bound)", "40% (input-bound)")
    assert rows[("TensorFlow", "input wait")][0] == "5%"
