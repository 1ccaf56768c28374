"""Achieved FLOP/s against a measured peak (issue 11): the matmul probe's timing, the per-machine
cache, the datasheet table, the export's efficiency block, and where the figures are shown
(engine column, headless summary, saved-run comparison, fairness report)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines import Comparison, settings_for
from engines.base import Engine
from engines.efficiency import (
    CONVENTION,
    PeakCache,
    datasheet_peak,
    efficiency_block,
    run_flops_per_step,
    time_matmul_peak,
)
from engines.hosting.protocol import EngineReport, StepRecord
from engines.hosting.session import EngineSession
from engines.results.diff import compare_runs
from engines.results.document import build_results
from engines.run.state import RunState
from engines.settings import RunSettings
from scenarios import find, load_builtins
from tui.live_model import DashboardModel, EngineView, peak_note
from tui.reports import summary_table
from tui.widgets.engine_column import efficiency_line, render_view

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def mlp():
    return find("mlp", load_builtins())


# -- the probe's timing ------------------------------------------------------------------------

class FakeClock:
    """A clock that each pretend matmul advances by side^3 / speed seconds."""

    def __init__(self, flops_per_s: float):
        self.now = 0.0
        self.speed = flops_per_s

    def __call__(self) -> float:
        return self.now

    def probe(self, side: int):
        def run():
            self.now += 2.0 * side ** 3 / self.speed
        return run


def test_the_probe_grows_the_matrix_until_a_matmul_is_long_enough_then_takes_the_best():
    clock = FakeClock(1e11)  # 100 GFLOP/s
    sides = []

    def make(side):
        sides.append(side)
        return clock.probe(side)

    result = time_matmul_peak(make, (256, 512, 1024, 2048), budget_s=0.5, clock=clock)
    # 512^3*2/1e11 = 2.7 ms (too short), 1024: 21 ms (long enough)
    assert sides == [256, 512, 1024] and result["matrix_side"] == 1024
    assert result["flops_per_s"] == pytest.approx(1e11)
    assert result["repetitions"] >= 3 and result["probe_s"] >= 0.5


def test_the_best_repetition_is_the_peak_not_an_interrupted_one():
    clock = FakeClock(1e11)
    slow_once = iter([True, False, False, False, False] + [False] * 100)

    def make(side):
        fast = clock.probe(side)

        def run():
            fast()
            if next(slow_once):
                clock.now += 1.0  # a context switch in the middle of one product
        return run

    result = time_matmul_peak(make, (1024,), budget_s=0.2, clock=clock)
    assert result["flops_per_s"] == pytest.approx(1e11)


# -- the cache ---------------------------------------------------------------------------------

IDENTITY = {"cpu": "AMD EPYC", "threads": 1, "device": "cpu", "precision": "bf16",
            "framework": "torch 2.13.0+cpu"}


def test_the_cache_keeps_one_measurement_per_identity(tmp_path):
    cache = PeakCache(tmp_path / "peaks")
    assert cache.get(IDENTITY) is None
    cache.put(IDENTITY, {"flops_per_s": 4.4e11, "matrix_side": 2048})
    hit = cache.get(IDENTITY)
    assert hit["flops_per_s"] == 4.4e11 and hit["matrix_side"] == 2048 and hit["measured_at"]
    for change in ({"threads": 2}, {"precision": "fp32"}, {"framework": "torch 2.14"}):
        assert cache.get({**IDENTITY, **change}) is None


@pytest.mark.parametrize("content", [
    "{not json", json.dumps([1, 2]), json.dumps({"identity": IDENTITY, "flops_per_s": -1}),
    json.dumps({"identity": IDENTITY, "flops_per_s": "fast"}),
    json.dumps({"identity": {**IDENTITY, "threads": 9}, "flops_per_s": 1e12}),
])
def test_a_damaged_or_foreign_cache_file_is_measured_again_not_trusted(tmp_path, content):
    cache = PeakCache(tmp_path)
    cache.put(IDENTITY, {"flops_per_s": 1.0})
    next(tmp_path.glob("peak-*.json")).write_text(content)
    assert cache.get(IDENTITY) is None


class MatmulEngine(Engine):
    """A numpy engine with a matmul probe (the real engines' probe is framework code)."""

    name = "pytorch"

    def __init__(self):
        self.probes = 0

    def load(self, settings: RunSettings) -> dict[str, str]:
        return {"numpy": np.__version__}

    def build(self, scenario, settings) -> None:
        pass

    def step(self, index: int) -> float:
        return 1.0

    def peak_facts(self) -> dict:
        return {"framework": f"numpy {np.__version__}"}

    def matmul_probe(self, n: int):
        self.probes += 1
        a = np.ones((n, n), np.float32)

        def run():
            float((a @ a)[0, 0])
        return run


def test_the_session_measures_once_caches_and_measures_again_on_request(tmp_path):
    stages = []

    def prepare(**settings_over):
        settings = RunSettings(peak_cache=str(tmp_path), threads=1, steps=3, warmup_steps=0,
                               **settings_over)
        session = EngineSession(MatmulEngine(), mlp(), settings)
        emit = lambda event: stages.append(getattr(event, "stage", None))  # noqa: E731
        session.prepare(emit)
        known = session.report().config["peak"]
        session.run(3, 10.0, emit)
        return session, known

    first, known = prepare()
    # Measured in the engine's first turn (where every other engine waits), not in prepare.
    assert known["flops_per_s"] is None and "first turn" in known["reason"]
    assert peak_note(known) == "peak: measured this run, shown at the end"
    assert first.peak["source"] == "measured now" and first.peak["flops_per_s"] > 0
    assert stages.index("measuring peak") < stages.index("compiling")
    assert "measuring peak" in stages and first.engine.probes >= 1
    assert first.report().config["peak"]["source"] == "measured now"
    second, known = prepare()
    assert second.engine.probes == 0 and known["source"].startswith("cached")
    assert known["flops_per_s"] == first.peak["flops_per_s"]  # shown live from the start
    again, _ = prepare(measure_peak=True)
    assert again.engine.probes >= 1 and again.peak["source"] == "measured now"
    parallel, _ = prepare(measure_peak=True, schedule="parallel")
    assert "parallel" in parallel.peak["source"]
    assert PeakCache(tmp_path).get(parallel.peak_identity())["flops_per_s"] == \
        again.peak["flops_per_s"]  # a contended measurement is not cached
    none = EngineSession(MatmulEngine(), mlp(), RunSettings())
    none.prepare(lambda event: None)
    assert none.peak["flops_per_s"] is None and "no peak cache" in none.peak["reason"]


# -- the export's block ------------------------------------------------------------------------

def test_flops_per_step_follow_the_convention():
    flops = 2 * (784 * 256 + 256 * 10)
    assert run_flops_per_step(mlp(), 128, "train") == 3 * flops * 128
    assert run_flops_per_step(mlp(), 1, "infer") == flops
    assert "multiply-add counted as 2 FLOPs" in CONVENTION and "3x forward" in CONVENTION


def test_the_block_divides_by_the_median_and_says_which_peak_it_refers_to():
    block = efficiency_block(int(1e9), 0.01, {"flops_per_s": 2e11, "source": "measured now",
                                              "matrix_side": 1024})
    assert block["achieved_flops"] == pytest.approx(1e11)
    assert block["share_of_peak"] == pytest.approx(0.5)
    assert block["share_refers_to"] == "measured peak" and block["peak_matrix_side"] == 1024
    none = efficiency_block(int(1e9), None, {"reason": "simulated engine"})
    assert none["achieved_flops"] is None and none["share_of_peak"] is None
    assert none["peak_source"] == "none: simulated engine"


@pytest.mark.parametrize("name,precision,model,tflops", [
    ("NVIDIA H100 80GB HBM3", "bf16", "H100 SXM", 989.4),
    ("NVIDIA H100 PCIe", "fp32", "H100 PCIe", 51.0),
    ("NVIDIA H200", "tf32", "H200 SXM", 494.7),
    ("NVIDIA A100-SXM4-40GB", "fp16", "A100", 312.0),
    ("NVIDIA L4", "bf16", "L4", 121.0),
    ("NVIDIA L40S", "bf16", "L40S", 362.05),
])
def test_datasheet_peaks_of_known_gpus(name, precision, model, tflops):
    found = datasheet_peak(name, precision)
    assert found["model"] == model and found["flops_per_s"] == pytest.approx(tflops * 1e12)


def test_unknown_gpus_and_missing_modes_have_no_datasheet_peak():
    assert datasheet_peak("NVIDIA GeForce GTX 1080", "fp32") is None
    assert datasheet_peak("Tesla T4", "bf16") is None  # Turing has no bfloat16
    assert datasheet_peak(None, "fp32") is None


def _state_with(peaks: dict, config_extra: dict | None = None) -> RunState:
    settings = settings_for(mlp(), steps=20, warmup_steps=1, threads=1, precision="bf16")
    state = RunState(mlp(), settings, {n: n for n in peaks})
    for name, peak in peaks.items():
        state.set_report(name, EngineReport(config={"mode": "eager", "peak": peak,
                                                    **(config_extra or {})}))
        state.add_records(name, [StepRecord(i, "first" if i == 0 else
                                            "warmup" if i == 1 else "steady", 1.0, 0.002)
                                 for i in range(20)])
    return state


def test_the_export_has_an_efficiency_block_with_the_share_of_the_measured_peak():
    state = _state_with({"pytorch": {"flops_per_s": 1.5e11, "source": "measured now"},
                         "tensorflow": {"flops_per_s": 3e11, "source": "measured now"}},
                        {"gpu_name": "NVIDIA H100 80GB HBM3"})
    doc = build_results(state)
    flops = 3 * 2 * (784 * 256 + 256 * 10) * 128
    for name, peak in (("pytorch", 1.5e11), ("tensorflow", 3e11)):
        eff = doc["engines"][name]["efficiency"]
        assert set(eff) >= {"flops_per_step", "achieved_flops", "peak_flops", "peak_source",
                            "share_of_peak", "convention"}
        assert eff["flops_per_step"] == flops
        assert eff["achieved_flops"] == pytest.approx(flops / 0.002)
        assert eff["share_of_peak"] == pytest.approx(flops / 0.002 / peak)
        assert eff["best_peak_engine"] == "tensorflow"
        assert eff["share_of_best_peak"] == pytest.approx(flops / 0.002 / 3e11)
        assert eff["datasheet_model"] == "H100 SXM"  # bf16 on a pretend H100
        assert eff["share_of_datasheet_peak"] == pytest.approx(flops / 0.002 / 989.4e12)
    fairness = "\n".join(doc["fairness"]["measures"])
    assert "multiply-add counted as 2 FLOPs" in fairness and "best of repeated" in fairness
    text = summary_table(doc)
    assert "achieved (share of peak)" in text and "78.1 GFLOP/s (52 %)" in text
    assert "H100 SXM datasheet" in text


def test_the_headless_summary_and_the_comparison_of_saved_runs_have_the_figures():
    settings = settings_for(mlp(), steps=30, threads=1, isolation="thread")
    doc = build_results(Comparison(mlp(), settings, FAKES, telemetry=False).run())
    text = summary_table(doc)
    assert "GFLOP/s" in text and "none: simulated engine" in text
    other = json.loads(json.dumps(doc))
    other["settings"]["precision"] = "bf16"
    other["engines"]["pytorch"]["efficiency"]["achieved_flops"] *= 2
    cmp = compare_runs(doc, other)
    rows = {(r.section, r.label): r for r in cmp.rows}
    achieved = rows[("PyTorch", "achieved")]
    assert achieved.differs and achieved.note == "B 2.00x higher"
    assert rows[("settings", "precision")].b == "bf16"
    assert any("precision differs" in w for w in cmp.warnings)
    assert rows[("PyTorch", "energy/sample")].a == "n/a"
    old = json.loads(json.dumps(doc))  # a run saved before the efficiency block
    for e in old["engines"].values():
        del e["efficiency"], e["energy"]
    del old["settings"]["precision"]
    labels = {r.label for r in compare_runs(old, old).rows}
    assert not labels & {"achieved", "share of peak", "energy/sample", "precision"}


# -- the dashboard -----------------------------------------------------------------------------

def _view(**over) -> EngineView:
    base = dict(name="pytorch", label="PyTorch", task="train", version="", status="done",
                stage="done", error=None, steps_done=10, steps_total=10, eta_s=None, loss=1.0,
                median_s=1e-3, iqr_s=1e-5, p90_s=None, p99_s=None, samples_per_s=1.0,
                unstable=False, first_step_s=0.1, import_s=1.0, prewarmed=False, build_s=0.1,
                peak_rss=None, device_peak=None, final=True)
    return EngineView(**{**base, **over})


def test_the_engine_column_shows_achieved_flops_and_the_share_of_the_measured_peak():
    view = _view(achieved_flops=54.2e9, share_of_peak=0.92)
    assert efficiency_line(view, 60).plain == "54.2 GFLOP/s · 92 % of measured peak"
    assert efficiency_line(view, 30).plain == "54.2 GFLOP/s · 92 % of peak"
    gpu = _view(achieved_flops=310e12, share_of_peak=0.6, datasheet_share=0.31,
                datasheet_model="H100 SXM")
    assert efficiency_line(gpu, 80).plain == ("310 TFLOP/s · 60 % of measured peak · 31 % of "
                                              "H100 SXM datasheet")
    waiting = _view(achieved_flops=None, peak_note="peak n/a (not measured)")
    assert efficiency_line(waiting, 60).plain == "— FLOP/s · peak n/a (not measured)"
    assert "54.2 GFLOP/s" in render_view(view, 60).plain


def test_the_live_model_takes_the_peak_from_the_engine_report():
    state = _state_with({"pytorch": {"flops_per_s": 3.9e11, "source": "measured now"}})
    model = DashboardModel(mlp(), state.settings, ["pytorch"], telemetry=False)
    model.update(state)
    view = model.engine_view("pytorch")
    flops = 3 * 2 * (784 * 256 + 256 * 10) * 128
    assert view.achieved_flops == pytest.approx(flops / 0.002)
    assert view.share_of_peak == pytest.approx(flops / 0.002 / 3.9e11)
    state = _state_with({"pytorch": {"flops_per_s": None, "reason": "simulated engine"}})
    model = DashboardModel(mlp(), state.settings, ["pytorch"], telemetry=False)
    model.update(state)
    assert model.engine_view("pytorch").peak_note == "peak n/a (simulated)"


def test_the_command_line_names_the_peak_cache_and_can_ask_for_a_new_measurement():
    from tui.cli import parse_options
    from tui.paths import peak_cache_dir

    opts = parse_options(["--fake", "--no-tui", "--scenario", "mlp"])
    assert opts.settings.peak_cache == str(peak_cache_dir()) and not opts.settings.measure_peak
    again = parse_options(["--fake", "--no-tui", "--scenario", "mlp", "--measure-peak"])
    assert again.settings.measure_peak is True
