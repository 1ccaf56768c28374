"""Energy per step and per sample (issue 11): RAPL from a pretend powercap folder, NVML's energy
counter and sampled power from the fake NVML, the windows over steady steps, "n/a" with the
reason wherever nothing can be measured, and what the export and the hardware panel say."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fake_nvml import FakeGPU, FakeNVML

from engines import Comparison, settings_for
from engines.base import Engine
from engines.hosting.session import EngineSession
from engines.results.document import build_results
from engines.run import energy
from engines.run.energy import (
    EnergyMeter,
    NvmlEnergyCounter,
    NvmlPowerIntegrator,
    RaplCounter,
    Unmeasurable,
    energy_meter,
    gpu_counter,
)
from engines.settings import RunSettings
from scenarios import find, load_builtins
from tui.live_model import HardwareView
from tui.widgets.hardware_panel import energy_line, render_hardware

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def powercap(root: Path, packages: dict[str, int], max_range: int = 262_143_328_850) -> Path:
    """A pretend /sys/class/powercap: one intel-rapl:N folder per package (and a core
    subdomain, which must not be counted twice)."""
    for i, (name, uj) in enumerate(packages.items()):
        d = root / f"intel-rapl:{i}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{uj}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
        sub = root / f"intel-rapl:{i}:0"
        sub.mkdir()
        (sub / "energy_uj").write_text("999999999\n")
    return root


def add_uj(root: Path, package: int, uj: int) -> None:
    f = root / f"intel-rapl:{package}" / "energy_uj"
    f.write_text(f"{int(f.read_text()) + uj}\n")


# -- RAPL ----------------------------------------------------------------------------------------

def test_rapl_adds_the_packages_and_ignores_their_subdomains(tmp_path):
    root = powercap(tmp_path, {"package-0": 1_000_000, "package-1": 5_000})
    counter = RaplCounter(root)
    assert counter.read_j() == 0.0
    add_uj(root, 0, 2_500_000)
    add_uj(root, 1, 500_000)
    assert counter.read_j() == pytest.approx(3.0)
    assert "package-0, package-1" in counter.scope and "whole package" in counter.scope


def test_rapl_counts_across_a_wrap_of_the_counter(tmp_path):
    root = powercap(tmp_path, {"package-0": 990}, max_range=1000)
    counter = RaplCounter(root)
    (root / "intel-rapl:0" / "energy_uj").write_text("40\n")  # 990 -> 1000 == 0 -> 40
    assert counter.read_j() == pytest.approx(50e-6)


def test_rapl_missing_or_root_only_is_unmeasurable_with_the_reason(tmp_path, monkeypatch):
    with pytest.raises(Unmeasurable, match="no RAPL counters"):
        RaplCounter(tmp_path / "absent")
    with pytest.raises(Unmeasurable, match="no RAPL package domain"):
        RaplCounter(tmp_path)
    root = powercap(tmp_path / "pc", {"package-0": 1})
    real = Path.read_text

    def root_only(self, *args, **kwargs):
        if self.name == "energy_uj":  # what Linux >= 5.10 does for non-root readers
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", root_only)
    meter = energy_meter("cpu", None, "alternate", powercap_root=root)
    assert meter.counter is None
    block = meter.to_dict(batch_size=32)
    assert block["per_sample_j"] is None and block["avg_power_w"] is None
    assert "needs root" in block["reason"]


# -- NVML ----------------------------------------------------------------------------------------

def test_the_nvml_energy_counter_is_preferred_and_reads_joules():
    fake = FakeNVML([FakeGPU(energy_mj=7_000)])
    counter = gpu_counter(0, lambda: fake)
    assert isinstance(counter, NvmlEnergyCounter)
    assert counter.read_j() == pytest.approx(7.0)
    assert counter.scope.startswith("GPU 0 (NVIDIA Pretend 80GB)")


def test_a_gpu_without_the_counter_falls_back_to_sampled_power(monkeypatch):
    monkeypatch.setattr(energy, "POWER_SAMPLE_S", 0.01)
    fake = FakeNVML([FakeGPU(energy_mj=None, power_mw=200_000)])
    counter = gpu_counter(0, lambda: fake)
    assert isinstance(counter, NvmlPowerIntegrator)
    meter = EnergyMeter(counter)
    meter.begin()
    time.sleep(0.2)
    meter.end(steps=10)
    # 200 W held for the window: power x the window's own length.
    assert meter.joules == pytest.approx(200.0 * meter.seconds, rel=0.1)
    assert meter.to_dict(4)["source"] == "nvml_power_samples"


@pytest.mark.parametrize("index,fake,reason", [
    (None, FakeNVML([FakeGPU()]), "not mapped to an NVML index"),
    (0, FakeNVML(init_error=RuntimeError("no driver")), "NVML unavailable"),
    (3, FakeNVML([FakeGPU()]), "NVML GPU 3"),
])
def test_gpus_nvml_cannot_measure_say_why(index, fake, reason):
    meter = energy_meter("cuda", index, "alternate", nvml_module=lambda: fake)
    block = meter.to_dict(8)
    assert block["source"] is None and block["per_step_j"] is None
    assert reason in block["reason"]


def test_a_gpu_lost_mid_run_drops_the_figures_and_says_so():
    fake = FakeNVML([FakeGPU(energy_mj=1_000)])
    meter = EnergyMeter(gpu_counter(0, lambda: fake))
    meter.begin()
    fake.lost = True
    meter.end(steps=5)
    block = meter.to_dict(8)
    assert block["joules"] is None and "failed mid-run (NVMLError_GpuIsLost)" in block["reason"]


def test_nvml_windows_too_short_for_its_update_rate_give_no_figure():
    fake = FakeNVML([FakeGPU(energy_mj=1_000)])
    meter = EnergyMeter(gpu_counter(0, lambda: fake))
    meter.begin()
    fake.gpus[0].energy_mj += 40
    meter.end(steps=3)
    block = meter.to_dict(8)
    assert block["source"] == "nvml_total_energy" and block["joules"] is None
    assert "too coarse" in block["reason"]
    meter.seconds = 2.0  # the same energy over long enough turns
    block = meter.to_dict(8)
    assert block["joules"] == pytest.approx(0.04)
    assert block["per_step_j"] == pytest.approx(0.04 / 3)
    assert block["per_sample_j"] == pytest.approx(0.04 / 3 / 8)
    assert block["avg_power_w"] == pytest.approx(0.02)


def test_parallel_and_simulated_runs_measure_nothing_and_say_why(tmp_path):
    root = powercap(tmp_path, {"package-0": 0})
    assert "parallel" in energy_meter("cpu", None, "parallel",
                                      powercap_root=root).to_dict(1)["reason"]
    assert "simulated" in energy_meter("cpu", None, "alternate", simulated=True,
                                       powercap_root=root).to_dict(1)["reason"]


# -- the windows: steady steps only, whole turns ---------------------------------------------

class PowerHungry(Engine):
    """A numpy engine whose every step costs 1 mJ on the pretend RAPL counter."""

    name = "pytorch"

    def __init__(self, root: Path):
        self.root = root

    def load(self, settings: RunSettings) -> dict[str, str]:
        return {"numpy": np.__version__}

    def build(self, scenario, settings) -> None:
        pass

    def step(self, index: int) -> float:
        add_uj(self.root, 0, 1_000)
        return 1.0 / (index + 1)


def test_energy_windows_cover_steady_steps_of_whole_turns(tmp_path, monkeypatch):
    root = powercap(tmp_path, {"package-0": 0})
    monkeypatch.setattr(energy, "POWERCAP_ROOT", root)
    mlp = find("mlp", load_builtins())
    settings = settings_for(mlp, steps=12, warmup_steps=2, batch_size=16, threads=1)
    session = EngineSession(PowerHungry(root), mlp, settings)
    session.prepare(lambda event: None)
    assert session.run(6, 10.0, lambda event: None) is False  # steps 0-5: 3 steady
    assert session.run(12, 10.0, lambda event: None, resumed=True)  # 6 resumes; 7-11 steady
    block = session.report().config["energy"]
    assert block["source"] == "rapl" and block["steps"] == 8
    assert block["joules"] == pytest.approx(8e-3)  # first, warm-up and resume steps left out
    assert block["per_step_j"] == pytest.approx(1e-3)
    assert block["per_sample_j"] == pytest.approx(1e-3 / 16)
    assert block["avg_power_w"] > 0


# -- the export and the hardware panel ---------------------------------------------------------

def test_the_export_has_energy_blocks_that_say_n_a_and_why():
    mlp = find("mlp", load_builtins())
    settings = settings_for(mlp, steps=20, threads=1, isolation="thread")
    doc = build_results(Comparison(mlp, settings, FAKES, telemetry=False).run())
    for e in doc["engines"].values():
        assert set(e["energy"]) >= {"source", "joules", "per_step_j", "per_sample_j",
                                    "avg_power_w", "reason"}
        assert e["energy"]["per_sample_j"] is None
        assert e["energy"]["reason"] == "simulated engine: nothing measured"
        assert "peak" not in e["config"] and "energy" not in e["config"]


def _view(energy_blocks: dict) -> HardwareView:
    sample = {"cpu_pct": 10.0, "mem_used": 2**30, "engines": {}, "gpus": []}
    return HardwareView(True, "no NVIDIA GPU (driver not found)", sample,
                        {"pytorch": "PyTorch", "tensorflow": "TensorFlow"},
                        energy=energy_blocks)


def test_the_panel_shows_each_engines_power_and_energy_per_sample():
    measured = {"source": "rapl", "avg_power_w": 212.4, "per_sample_j": 0.00121,
                "per_step_j": 0.155, "reason": None}
    text = energy_line(_view({"pytorch": measured,
                              "tensorflow": {"source": None, "reason": "RAPL needs root"}})).plain
    assert text == ("energy PyTorch 212 W · 1.21 mJ/sample  │  TensorFlow n/a (RAPL needs "
                    "root)")
    shared = {"source": None, "reason": "no RAPL counters"}
    text = energy_line(_view({"pytorch": shared, "tensorflow": dict(shared)})).plain
    assert text == "energy n/a: no RAPL counters"  # said once
    waiting = {"source": "rapl", "reason": "no steady steps measured yet"}
    assert "measuring" in energy_line(_view({"pytorch": waiting})).plain
    assert energy_line(_view({})) is None  # simulated engines: no line
    assert "energy" in render_hardware(_view({"pytorch": measured})).plain
