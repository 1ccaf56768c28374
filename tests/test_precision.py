"""Precision modes (issue 11): the setting and its refusals, CPU bfloat16 detection, the parity
bounds per precision, bf16 on both real frameworks, and the GPU-only modes (fp16 with loss
scaling, tf32) on pretend configurations."""

from __future__ import annotations

import numpy as np
import pytest
from test_gpu_path import clean_env, pretend_cuda, pretend_tf_gpu  # noqa: F401 - fixtures

from engines import Comparison, settings_for
from engines.base import EngineUnavailable
from engines.precision import INITIAL_LOSS_SCALE, cpu_bf16, cpu_refusal, device_refusal
from engines.results.document import build_results
from engines.results.fairness import fairness_report
from engines.results.verdicts import parity, tolerances
from engines.settings import RunSettings
from scenarios import find, load_builtins
from tui.cli import main, parse_options
from tui.live_model import DashboardModel, ParityView
from tui.options import BadInput
from tui.reports import summary_table
from tui.settings_draft import SettingsDraft
from tui.widgets.parity_meter import render_parity

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
ENGINES = {"pytorch": "pytorch", "tensorflow": "tensorflow"}
NO_BF16 = "flags\t\t: fpu sse2 avx avx2 fma\n"  # an AVX2-only x86 CPU
EMULATED = "flags\t\t: avx2 avx512f avx512bw\n"
NATIVE = "flags\t\t: avx2 avx512f avx512bw avx512_bf16\n"


def mlp():
    return find("mlp", load_builtins())


# -- the setting and what is refused up front ---------------------------------------------------

def test_precision_is_a_setting_exported_beside_the_variables_dtype():
    d = RunSettings(precision="bf16").to_dict()
    assert d["precision"] == "bf16" and d["dtype"] == "float32"
    assert "peak_cache" not in d and d["measure_peak"] is False
    with pytest.raises(ValueError, match="precision: expected fp32 | bf16 | fp16 | tf32"):
        RunSettings(precision="fp8").validate()


@pytest.mark.parametrize("precision", ["fp16", "tf32"])
def test_gpu_only_precisions_are_refused_on_a_cpu_before_anything_runs(precision, capsys):
    assert device_refusal(precision, "cuda") is None
    with pytest.raises(ValueError, match=f"precision: {precision} needs --device cuda"):
        RunSettings(precision=precision).validate()
    assert main(["--fake", "--no-tui", "--scenario", "mlp", "--precision", precision]) == 2
    assert f"--precision: {precision} needs --device cuda" in capsys.readouterr().err


def test_cpu_bfloat16_support_is_read_from_the_cpu_flags():
    assert cpu_bf16(NATIVE).level == "native"
    assert cpu_bf16("Features\t: fp asimd bf16\n").level == "native"  # Arm
    assert cpu_bf16(EMULATED).level == "emulated"
    assert cpu_bf16(NO_BF16).level is None
    assert cpu_bf16("processor: 0\n").level == "unknown"  # nothing refused on a guess
    assert "no bfloat16 instructions" in cpu_refusal("bf16", "cpu", NO_BF16)
    assert cpu_refusal("bf16", "cpu", EMULATED) is None
    assert cpu_refusal("bf16", "cuda", NO_BF16) is None


def test_bf16_on_a_cpu_without_support_is_refused_by_the_command_line_and_picker(monkeypatch):
    from engines import precision

    monkeypatch.setattr(precision, "cpu_bf16", lambda cpuinfo=None: precision.CpuBf16(
        None, "no bfloat16 instructions (pretend CPU)"))
    with pytest.raises(BadInput, match="--precision: bf16 on this CPU: no bfloat16"):
        parse_options(["--fake", "--no-tui", "--scenario", "mlp", "--precision", "bf16"])
    draft = SettingsDraft(FAKES, {"precision": "bf16"})
    settings, why = draft.resolve(mlp())
    assert settings is None and "bf16 on this CPU" in why


def test_the_picker_offers_every_precision_and_the_line_presets_it():
    opts = parse_options(["--fake", "--precision", "bf16"])
    assert opts.overrides["precision"] == "bf16" and opts.settings.precision == "bf16"
    draft = SettingsDraft(FAKES, opts.overrides, opts.fixed)
    draft.change("precision", 1, mlp())
    assert draft.value("precision", mlp()) == "fp16"
    settings, why = draft.resolve(mlp())
    assert settings is None and "fp16 needs --device cuda" in why


# -- parity bounds per precision, and where they are named -------------------------------------

def test_parity_bounds_follow_the_precision():
    assert tolerances("sgd") == (1e-4, 2e-2)
    assert tolerances("sgd", precision="bf16") == (2e-2, 1e-1)
    assert tolerances("adam", precision="bf16") == (1e-1, 2e-1)  # Adam's are looser still
    assert tolerances("sgd", "infer", "bf16") == (1e-3, 1e-3)
    a = np.linspace(2.0, 0.5, 60)
    b = a * (1 + 5e-3)  # bfloat16-sized disagreement
    assert parity(a, b, "sgd")["within_tolerance"] is False
    p = parity(a, b, "sgd", precision="bf16")
    assert p["within_tolerance"] is True and p["precision"] == "bf16"


def test_the_meter_and_the_summary_name_the_precision():
    view = ParityView(True, 60, 1e-3, 5e-3, 1e-3, 1e-1, True, False, 4e-3, 2e-2,
                      precision="bf16")
    assert "bf16 tol 2e-2→1e-1" in render_parity(view, 120).plain
    fp32 = ParityView(True, 60, 1e-7, 2e-7, 1e-7, 2e-2, True, False, 2e-7, 1e-4)
    assert "tol 1e-4→2e-2" in render_parity(fp32, 120).plain
    settings = settings_for(mlp(), steps=60, threads=1, isolation="thread", precision="bf16")
    doc = build_results(Comparison(mlp(), settings, FAKES, telemetry=False).run())
    text = summary_table(doc)
    assert "(bf16 tolerance 2e-02)" in text and "precision bf16" in text
    model = DashboardModel(mlp(), settings, list(FAKES), telemetry=False)
    assert model.parity.tolerance == 1e-1 and model.parity.early_tolerance == 2e-2


def test_fairness_says_the_precision_and_flags_different_loss_scaling():
    from test_fairness import _cfg, _doc

    r = fairness_report(_doc(_cfg(dtype="bf16: mixed bfloat16, float32 variables",
                                  precision="bf16"),
                             _cfg(dtype="bf16: mixed bfloat16, float32 variables",
                                  precision="bf16")))
    dtype = next(row for row in r.rows if row.key == "dtype")
    assert set(dtype.values.values()) == {"bf16: mixed bfloat16, float32 variables"}
    assert not dtype.differs
    r = fairness_report(_doc(_cfg(loss_scale="dynamic, initial 32768"),
                             _cfg(loss_scale="dynamic, initial 65536")))
    assert any(w.key == "loss_scale" for w in r.warnings)


# -- bf16 on both real frameworks ------------------------------------------------------------

@pytest.mark.frameworks
def test_bf16_runs_on_both_frameworks_within_the_stated_bound(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    if cpu_bf16().level is None:
        pytest.skip("this CPU cannot do bfloat16")
    settings = settings_for(mlp(), steps=60, threads=1, isolation="thread", precision="bf16",
                            peak_cache=str(tmp_path))
    doc = build_results(Comparison(mlp(), settings, ENGINES, telemetry=False).run())
    for name, e in doc["engines"].items():
        assert e["status"] == "done", e["error"]
        assert e["config"]["precision"] == "bf16" and e["config"]["compute_dtype"] == "bfloat16"
        eff = e["efficiency"]  # the peak was measured at bf16, in this run
        assert eff["peak_flops"] > 0 and eff["peak_source"] == "measured now"
        assert eff["share_of_peak"] == pytest.approx(eff["achieved_flops"] / eff["peak_flops"])
        assert eff["flops_per_step"] == 3 * 2 * (784 * 256 + 256 * 10) * 128
        assert e["energy"]["per_sample_j"] is not None or e["energy"]["reason"]
    par = doc["comparison"]["parity"]
    assert par["precision"] == "bf16" and par["early_tolerance"] == 2e-2
    assert par["within_tolerance"], par
    assert par["early_max_rel_loss_diff"] > 1e-6  # it really ran in 16 bits on both sides
    dtype = next(r for r in doc["fairness"]["rows"] if r["key"] == "dtype")
    assert all(v.startswith("bf16") for v in dtype["values"].values())
    import keras

    assert keras.config.dtype_policy().name == "float32"  # set for the model only


# -- the GPU-only modes, on pretend configurations --------------------------------------------

@pytest.mark.frameworks
def test_keras_fp16_wraps_the_optimizer_with_the_shared_initial_loss_scale():
    pytest.importorskip("tensorflow")
    from engines.tf_engine import TFEngine

    # fp16 is refused on a CPU before a run; built here directly to check the wiring (TF's
    # float16 CPU kernels are slow but exist).
    settings = RunSettings(precision="fp16", isolation="thread", steps=5, warmup_steps=1,
                           batch_size=8, threads=1)
    engine = TFEngine()
    engine.load(settings)
    engine.build(find("regression", load_builtins()), settings)
    assert type(engine.opt).__name__ == "LossScaleOptimizer"
    assert engine.opt.initial_scale == INITIAL_LOSS_SCALE == 2.0 ** 15
    assert engine.opt.dynamic_growth_steps == 2000
    assert np.isfinite(engine.step(0)) and np.isfinite(engine.step(1))
    assert float(engine.opt.dynamic_scale.numpy()) == INITIAL_LOSS_SCALE
    assert engine.config()["loss_scale"].startswith("dynamic, initial 32768")
    assert {v.dtype for v in engine.model.weights} == {"float32"}
    assert engine.config()["compute_dtype"] == "float16"


@pytest.mark.frameworks
def test_torch_fp16_scales_the_loss_from_the_shared_initial_scale(monkeypatch):
    torch = pytest.importorskip("torch")
    from engines.torch_engine import TorchEngine

    made = []

    class RecordingScaler:  # torch's GradScaler disables itself without CUDA: record instead
        def __init__(self, device, **kwargs):
            made.append((device, kwargs))

        def scale(self, loss):
            return loss * kwargs_of(made)["init_scale"]

        def step(self, opt):
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad /= kwargs_of(made)["init_scale"]
            opt.step()

        def update(self):
            pass

    def kwargs_of(made):
        return made[0][1]

    monkeypatch.setattr(torch.amp, "GradScaler", RecordingScaler)
    settings = RunSettings(precision="fp16", isolation="thread", steps=5, warmup_steps=1,
                           batch_size=8, threads=1)
    engine = TorchEngine()
    engine.load(settings)
    engine.build(find("regression", load_builtins()), settings)
    assert made == [("cuda", {"init_scale": 2.0 ** 15, "growth_interval": 2000})]
    assert engine.compute_dtype == "float16"  # autocast really computes in float16
    assert np.isfinite(engine.step(0))
    assert engine.config()["loss_scale"].startswith("dynamic, initial 32768")


@pytest.mark.frameworks
@pytest.mark.usefixtures("pretend_cuda", "pretend_tf_gpu")
def test_tf32_switches_tf32_on_for_both_on_a_pretend_gpu(monkeypatch):
    import torch

    from engines.tf_engine import TFEngine
    from engines.torch_engine import TorchEngine

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    settings = RunSettings(device="cuda", precision="tf32", isolation="thread")
    pt, tf = TorchEngine(), TFEngine()
    pt.load(settings)
    tf.load(settings)
    pt.settings = tf.settings = settings
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert tf.tf.config.experimental.tensor_float_32_execution_enabled()
    assert pt.config()["tf32"] is True and tf.config()["tf32"] is True
    from test_fairness import _doc

    report = fairness_report(_doc(pt.config(), tf.config(), device="cuda"))
    tf32 = next(r for r in report.rows if r.key == "tf32")
    assert tf32.values == {"pytorch": "on", "tensorflow": "on"} and not tf32.differs
    fp32 = RunSettings(device="cuda", precision="fp32", isolation="thread")
    TorchEngine().load(fp32)
    assert not torch.backends.cuda.matmul.allow_tf32  # fp32 keeps it off, as before


@pytest.mark.frameworks
@pytest.mark.usefixtures("pretend_cuda")
def test_bf16_on_a_pre_ampere_gpu_is_unavailable_not_float32(monkeypatch):
    import torch

    from engines.torch_engine import TorchEngine

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 0))
    with pytest.raises(EngineUnavailable, match="compute capability 8.0"):
        TorchEngine().load(RunSettings(device="cuda", precision="bf16", isolation="thread"))
