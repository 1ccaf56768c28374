"""The GPU path, checked on a CPU machine (issue 14): a fake NVML (devices, processes with and
without matching PIDs, zero devices, errors mid-run, slow init), pretend-GPU engine configs,
the NVML <-> CUDA numbering, the fairness rows and the hardware panel.

Tests marked `frameworks` import the real TensorFlow / PyTorch and patch only their device
queries, so every other API they call is the real one (a misspelt function fails here).
"""

from __future__ import annotations

import os
import sys
import time
import types

import pytest
from fake_nvml import (
    FakeGPU,
    FakeNVML,
    NVMLError_DriverNotLoaded,
    NVMLError_LibraryNotFound,
)

from engines import Comparison, settings_for
from engines.base import EngineUnavailable, first_line
from engines.results.fairness import fairness_report
from engines.run import telemetry
from engines.run.environment import environment, nvml_index, visible_devices
from engines.run.telemetry import (
    NOTE_NO_LIST,
    NOTE_NONE_LISTED,
    NOTE_NOT_LISTED,
    NOTE_NOT_REPORTED,
    NOTE_SHARED,
    NOTE_ZERO,
    NVML,
    TelemetrySampler,
)
from engines.settings import RunSettings
from engines.tf_engine import lstm_use_cudnn, set_tf_autotune
from scenarios import find, load_builtins
from tui.live_model import HardwareView
from tui.widgets.hardware_panel import render_hardware

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
GiB = 2**30


def two_gpus(processes0=(), processes1=()) -> FakeNVML:
    return FakeNVML([FakeGPU(processes=list(processes0)),
                     FakeGPU(name="NVIDIA Other", uuid="GPU-1111aaaa-0000", bus_id="00:5E:00.0",
                             processes=list(processes1))])


# -- NVML: devices, processes, failures ----------------------------------------------------

def test_devices_are_described_with_driver_uuid_bus_and_persistence():
    nvml = NVML(two_gpus(), background=False)
    assert nvml.available and nvml.status() == "ok" and nvml.count == 2
    gpus = nvml.gpus()
    assert [g["name"] for g in gpus] == ["NVIDIA Pretend 80GB", "NVIDIA Other"]
    assert gpus[0]["uuid"].startswith("GPU-8932") and gpus[1]["pci_bus_id"] == "00:5E:00.0"
    assert gpus[0]["persistence_mode"] is True and gpus[0]["memory_total"] == 80 * GiB
    system = nvml.system()
    assert system["driver_version"] == "550.54.15" and system["cuda_driver_version"] == "12.4"
    assert system["nvml_init_s"] is not None


def test_names_given_as_bytes_by_older_libraries_are_decoded():
    nvml = NVML(FakeNVML([FakeGPU()], bytes_names=True))
    assert nvml.gpus()[0]["name"] == "NVIDIA Pretend 80GB"
    assert nvml.system()["driver_version"] == "550.54.15"


def test_engine_memory_is_matched_by_pid_on_the_gpu_it_runs_on():
    nvml = NVML(two_gpus(processes0=[(101, 3 * GiB)], processes1=[(202, 5 * GiB), (999, GiB)]))
    gpus, notes = nvml.read({"pytorch": 101, "tensorflow": 202})
    assert gpus[0]["engine_mem"] == {"pytorch": 3 * GiB, "tensorflow": None}
    assert gpus[1]["engine_mem"] == {"pytorch": None, "tensorflow": 5 * GiB}
    assert [g["processes"] for g in gpus] == [1, 2]
    assert notes == {}  # each engine was found somewhere


def test_pids_nvml_does_not_list_say_so_instead_of_vanishing():
    # Containers with older drivers: NVML lists the host's PIDs, never ours.
    nvml = NVML(two_gpus(processes0=[(40001, 3 * GiB)], processes1=[(40002, 5 * GiB)]))
    gpus, notes = nvml.read({"pytorch": 101, "tensorflow": 202})
    assert all(v is None for g in gpus for v in g["engine_mem"].values())
    assert notes == {"pytorch": NOTE_NOT_LISTED, "tensorflow": NOTE_NOT_LISTED}


def test_a_zero_or_missing_reading_is_unknown_not_zero_bytes():
    nvml = NVML(two_gpus(processes0=[(101, 0), (202, None)]))
    gpus, notes = nvml.read({"pytorch": 101, "tensorflow": 202})
    assert gpus[0]["engine_mem"] == {"pytorch": None, "tensorflow": None}
    assert notes == {"pytorch": NOTE_ZERO, "tensorflow": NOTE_NOT_REPORTED}


def test_in_process_engines_are_not_both_given_the_process_figure():
    me = os.getpid()
    nvml = NVML(two_gpus(processes0=[(me, 4 * GiB)]))
    gpus, notes = nvml.read({"pytorch": me, "tensorflow": me})
    assert gpus[0]["engine_mem"] == {"pytorch": None, "tensorflow": None}
    assert notes == {"pytorch": NOTE_SHARED, "tensorflow": NOTE_SHARED}


def test_a_refused_or_empty_process_list_is_named():
    nvml = NVML(FakeNVML([FakeGPU(processes=None)]))
    assert nvml.read({"pytorch": 101})[1] == {"pytorch": NOTE_NO_LIST}
    nvml = NVML(FakeNVML([FakeGPU(processes=[])]))
    assert nvml.read({"pytorch": 101})[1] == {"pytorch": NOTE_NONE_LISTED}


@pytest.mark.parametrize("fake,reason", [
    (FakeNVML([]), "no NVIDIA GPU (NVML sees 0 devices)"),
    (FakeNVML(init_error=NVMLError_LibraryNotFound()), "no NVIDIA GPU (driver not found)"),
    (FakeNVML(init_error=NVMLError_DriverNotLoaded()), "no NVIDIA GPU (driver not loaded)"),
])
def test_no_gpu_reads_no_nvidia_gpu_and_samples_nothing(fake, reason):
    nvml = NVML(fake)
    assert not nvml.available and nvml.status() == reason
    assert nvml.gpus() == [] and nvml.read({"pytorch": 1}) == ([], {})
    view = HardwareView(True, nvml.status(), {"cpu_pct": 5.0, "engines": {}, "gpus": []},
                        {"pytorch": "PyTorch"}, device="cuda")
    text = render_hardware(view).plain
    assert "no NVIDIA GPU" in text and "no sample yet" not in text


def test_a_gpu_lost_mid_run_gives_empty_readings_not_an_exception():
    fake = two_gpus(processes0=[(101, GiB)])
    nvml = NVML(fake)
    assert nvml.read({"pytorch": 101})[0][0]["util_pct"] == 87
    fake.lost = True
    gpus, _ = nvml.read({"pytorch": 101})
    assert len(gpus) == 2
    assert {k: v for k, v in gpus[0].items() if k not in ("index", "engine_mem")} == {
        "util_pct": None, "mem_used": None, "mem_total": None, "power_w": None,
        "temp_c": None, "processes": None}
    sampler = TelemetrySampler(lambda: {"pytorch": os.getpid()}, lambda s: None, nvml=nvml)
    assert len(sampler.sample()["gpus"]) == 2


@pytest.mark.parametrize("variant,used", [
    ("ok", "nvmlDeviceGetTemperatureV"),
    ("missing", "nvmlDeviceGetTemperature"),  # an nvidia-ml-py without the V call
    ("no-symbol", "nvmlDeviceGetTemperature"),  # a driver without it
])
def test_temperature_uses_the_non_deprecated_call_where_there_is_one(variant, used):
    fake = FakeNVML([FakeGPU(temp=71)], temperature_v=variant)
    nvml = NVML(fake)
    for _ in range(3):
        assert nvml.sample({})[0]["temp_c"] == 71
    assert fake.calls.get(used, 0) >= 3
    if variant == "no-symbol":  # tried once, then never again
        assert fake.calls["nvmlDeviceGetTemperatureV"] == 1


def test_slow_nvml_init_never_blocks_the_caller_and_answers_later():
    fake = FakeNVML([FakeGPU()], init_delay=1.0)
    t0 = time.perf_counter()
    nvml = NVML(fake, background=True)
    assert time.perf_counter() - t0 < 0.2
    assert nvml.status() == "NVML starting" and not nvml.available
    told = []
    sampler = TelemetrySampler(dict, lambda s: None, hz=20, nvml=nvml,
                               on_nvml=lambda *facts: told.append(facts))
    sampler.start()
    assert not told
    assert nvml.wait(5)
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    assert len(told) == 1 and nvml.status() == "ok"
    status, gpus, driver = told[0]
    assert status == "ok" and gpus[0]["name"] == "NVIDIA Pretend 80GB"
    assert driver["driver_version"] == "550.54.15"


def test_a_comparison_starts_at_once_and_records_the_gpus_when_nvml_answers():
    mlp = find("mlp", load_builtins())
    settings = settings_for(mlp, steps=200, threads=1, isolation="thread",
                            faults={"pytorch": "slow", "tensorflow": "slow"})
    nvml = NVML(FakeNVML([FakeGPU(processes=[(os.getpid(), GiB)])], init_delay=0.5),
                background=True)
    comp = Comparison(mlp, settings, FAKES, telemetry=True, telemetry_hz=20, nvml=nvml)
    t0 = time.perf_counter()
    comp.start()
    try:
        assert time.perf_counter() - t0 < 0.3
        assert comp.state.gpu_status is None  # not known yet, not "ok"
        deadline = time.monotonic() + 10
        while comp.state.gpu_status is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert comp.state.gpu_status == "ok"
        env = comp.state.environment
        assert env["gpus"][0]["name"] == "NVIDIA Pretend 80GB"
        assert env["nvidia"]["driver_version"] == "550.54.15"
        assert "CUDA_VISIBLE_DEVICES" in env["gpu_env"]
        while not any(s["gpus"] for s in comp.state.telemetry) and time.monotonic() < deadline:
            time.sleep(0.05)
        sample = next(s for s in comp.state.telemetry if s["gpus"])
        # In-process: both engines are this process; NVML's one figure is not split.
        assert sample["gpu_engine_notes"] == {"pytorch": NOTE_SHARED, "tensorflow": NOTE_SHARED}
    finally:
        comp.cancel()
        comp.wait(timeout=10)


def test_nvml_is_initialised_once_per_process_and_shut_down_once(monkeypatch):
    fake = FakeNVML([FakeGPU()])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(telemetry, "_shared", None)
    first = telemetry.shared_nvml()
    assert telemetry.shared_nvml() is first
    assert first.wait(5) and first.available
    first.close()
    first.close()
    assert fake.calls["nvmlInit"] == 1 and fake.calls["nvmlShutdown"] == 1


# -- which GPU: CUDA ordinals against NVML indices -------------------------------------------

@pytest.mark.parametrize("env,ordinal,expected", [
    ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, 1, 1),
    ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "3,1"}, 0, 3),
    ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "GPU-1111"}, 0, 1),
    ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "2,-1,1"}, 1, None),
    ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "MIG-abc"}, 0, None),
    ({}, 0, None),  # fastest first: CUDA's numbering is not NVML's
])
def test_cuda_ordinals_map_to_nvml_indices_only_where_that_is_certain(env, ordinal, expected):
    uuids = {"GPU-8932f937-d72c": 0, "GPU-1111aaaa-0000": 1}
    index, how = nvml_index(ordinal, env, uuids)
    assert index == expected, how
    assert how


def test_visible_devices_stop_at_the_first_invalid_entry_as_cuda_does():
    assert visible_devices(None) is None
    assert visible_devices("") == []
    assert visible_devices("0, 2,-1,1") == ["0", "2"]


def test_the_environment_records_gpu_variables_and_the_driver(monkeypatch):
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    env = environment([{"index": 0}], {"driver_version": "550"})
    assert env["gpu_env"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"
    assert env["gpu_env"]["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["nvidia"] == {"driver_version": "550"} and env["gpus"] == [{"index": 0}]


# -- settings --------------------------------------------------------------------------------

def test_gpu_and_cudnn_autotune_are_settings_exported_and_checked():
    d = RunSettings().to_dict()
    assert d["gpu"] == 0 and d["cudnn_autotune"] is True
    for bad in ({"gpu": -1}, {"gpu": True}, {"cudnn_autotune": "yes"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RunSettings(**bad).validate()


def test_lstm_never_takes_cudnn_under_xla_nor_on_the_cpu():
    assert lstm_use_cudnn(RunSettings(device="cuda", mode="xla")) is False
    assert lstm_use_cudnn(RunSettings(device="cpu", mode="eager")) is False
    assert lstm_use_cudnn(RunSettings(device="cuda", mode="compiled")) == "auto"


def test_tensorflow_autotuning_follows_the_setting_xla_included():
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    set_tf_autotune(RunSettings(device="cuda", mode="xla", cudnn_autotune=False), env)
    assert env == {"TF_CUDNN_USE_AUTOTUNE": "0",
                   "XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_gpu_autotune_level=0"}
    set_tf_autotune(RunSettings(device="cuda", mode="xla", cudnn_autotune=False), env)
    assert env["XLA_FLAGS"].count("autotune") == 1
    env = {}
    set_tf_autotune(RunSettings(device="cuda"), env)
    assert env == {"TF_CUDNN_USE_AUTOTUNE": "1"}


# -- errors ------------------------------------------------------------------------------------

def test_an_empty_error_message_is_classified_by_its_type():
    class OutOfMemoryError(RuntimeError):
        pass

    from engines.torch_engine import TorchEngine

    engine = TorchEngine()
    # torch < 2.5 has only torch.cuda.OutOfMemoryError.
    engine.torch = types.SimpleNamespace(cuda=types.SimpleNamespace(
        OutOfMemoryError=OutOfMemoryError))
    engine.device = "cuda:1"
    assert engine.classify_error(OutOfMemoryError("")) == \
        "out of memory on cuda:1: OutOfMemoryError"
    assert first_line(RuntimeError("\n  \n")) == "RuntimeError"
    assert "C compiler" in engine.classify_error(
        RuntimeError("Failed to find C compiler. Please specify via CC environment variable."))


def test_a_missing_c_compiler_is_found_before_torch_compile_runs(monkeypatch):
    from engines import torch_engine

    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(torch_engine.shutil, "which", lambda name: None)
    assert "none found" in torch_engine.triton_build_problem()
    monkeypatch.setenv("CC", "/usr/bin/cc")
    monkeypatch.setattr(torch_engine.os.path, "exists", lambda path: False)
    assert "Python.h" in torch_engine.triton_build_problem()
    monkeypatch.setattr(torch_engine.os.path, "exists", lambda path: True)
    assert torch_engine.triton_build_problem() is None


# -- the fairness report on a GPU --------------------------------------------------------------

def _gpu_cfg(**over):
    cfg = {"mode": "eager", "dtype": "float32", "intra_op_threads": 1, "inter_op_threads": 1,
           "onednn": True, "tf32": False, "xla": False, "gpu_ordinal": 1, "gpu_index": 1,
           "gpu_index_note": "PCI bus order", "gpu_name": "NVIDIA H100", "visible_gpus": 2,
           "cuda_version": "12.6", "cudnn_version": "90100", "cudnn_autotune": True}
    cfg.update(over)
    return cfg


def _gpu_doc(torch_cfg, tf_cfg, device="cuda"):
    from test_fairness import _doc

    return _doc(torch_cfg, tf_cfg, device=device)


def test_gpu_runs_get_gpu_rows_and_the_same_gpu_reads_the_same():
    # TensorFlow sees its one visible GPU as /GPU:0, PyTorch the same GPU as cuda:1.
    r = fairness_report(_gpu_doc(_gpu_cfg(device="cuda:1"),
                                 _gpu_cfg(device="/GPU:0", cudnn_version="9", visible_gpus=1,
                                          memory_growth=True)))
    rows = {row.key: row for row in r.rows}
    assert rows["device"].values == {"pytorch": "GPU 1", "tensorflow": "GPU 1"}
    assert not rows["device"].differs
    assert rows["cudnn_autotune"].values == {"pytorch": "on", "tensorflow": "on"}
    assert rows["cuda"].values["tensorflow"] == "CUDA 12.6 / cuDNN 9"
    assert rows["cuda"].differs and not rows["cuda"].flagged  # bundled libraries differ
    assert "lstm_kernel" not in rows  # no LSTM in this model
    assert r.warnings == []


def test_cpu_runs_keep_their_rows():
    from test_fairness import _doc

    keys = [row.key for row in fairness_report(_doc()).rows]
    assert not {"gpu_name", "cuda", "cudnn_autotune", "lstm_kernel"} & set(keys)


def test_gpu_differences_that_change_speed_are_warned_about():
    r = fairness_report(_gpu_doc(
        _gpu_cfg(device="cuda:1", cudnn_autotune=False, lstm_kernel="cuDNN"),
        _gpu_cfg(device="/GPU:0", memory_growth=False,
                 lstm_kernel="generic (use_cudnn=False: XLA cannot compile cuDNN's LSTM)")))
    warnings = {w.key: w for w in r.warnings}
    assert "cuDNN autotuning on TensorFlow only" in warnings["cudnn_autotune"].text
    assert warnings["lstm_kernel"].level == "warning"
    notes = [w.text for w in r.warnings if w.level == "note"]
    assert any("reserves nearly all GPU memory" in t for t in notes)
    assert any("LSTM/GRU without cuDNN under XLA" in t for t in notes)


def test_a_gpu_seen_in_a_cpu_run_and_an_unmapped_ordinal_are_said():
    from test_fairness import _cfg, _doc

    r = fairness_report(_doc(_cfg(visible_gpus=0), _cfg(visible_gpus=1)))
    assert any("TensorFlow could see 1 GPU(s) in a CPU run" in w.text for w in r.warnings)
    r = fairness_report(_gpu_doc(_gpu_cfg(device="cuda:0", gpu_index=None,
                                          gpu_index_note="CUDA_DEVICE_ORDER=FASTEST_FIRST"),
                                 _gpu_cfg(device="/GPU:0", gpu_index=None)))
    assert next(row for row in r.rows if row.key == "device").values["pytorch"] == \
        "GPU (CUDA device 1)"
    assert any("not mapped to an nvidia-smi index (CUDA_DEVICE_ORDER" in w.text
               for w in r.warnings)


# -- the hardware panel ------------------------------------------------------------------------

def _view(engine_mem, notes=None, device="cuda", framework_mem=None, engine_gpu=None):
    gpus = [{"index": 0, "util_pct": 50, "mem_used": GiB, "mem_total": 8 * GiB,
             "power_w": 100.0, "temp_c": 60, "engine_mem": engine_mem}]
    sample = {"cpu_pct": 10.0, "mem_used": GiB, "engines": {}, "gpus": gpus}
    if notes:
        sample["gpu_engine_notes"] = notes
    return HardwareView(True, "ok", sample, {"pytorch": "PyTorch", "tensorflow": "TensorFlow"},
                        device=device, framework_mem=framework_mem or {},
                        engine_gpu=engine_gpu or {})


def test_the_panel_says_per_process_n_a_with_the_reason_and_the_framework_figure():
    text = render_hardware(_view({"pytorch": None, "tensorflow": 2 * GiB},
                                 {"pytorch": NOTE_NOT_LISTED},
                                 framework_mem={"pytorch": 3 * GiB})).plain
    assert "PyTorch per-process n/a (PID not listed) · own count 3 GiB" in text
    assert "TensorFlow 2 GiB" in text


def test_the_panel_reads_zero_as_unknown_and_says_nothing_of_engines_in_a_cpu_run():
    text = render_hardware(_view({"pytorch": 0, "tensorflow": None})).plain
    assert "0 B" not in text and "PyTorch per-process n/a (reported 0)" in text
    text = render_hardware(_view({"pytorch": None}, {"pytorch": NOTE_NOT_LISTED},
                                 device="cpu")).plain
    assert "n/a" not in text and "PyTorch" not in text.split("GPU0", 1)[1]


# -- real engines, pretend GPUs ----------------------------------------------------------------

ENV_KEYS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_CUDNN_USE_AUTOTUNE", "XLA_FLAGS",
            "TF_FORCE_GPU_ALLOW_GROWTH")


@pytest.fixture
def clean_env(monkeypatch):
    """Every variable an engine's load() may set, restored afterwards."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def pretend_tf_gpu(clean_env):
    """Real TensorFlow whose device queries report one GPU; records set_visible_devices."""
    tf = pytest.importorskip("tensorflow")
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    real_list, real_visible = tf.config.list_physical_devices, tf.config.get_visible_devices
    state = {"visible": [gpu], "calls": []}

    def set_visible(devices, device_type=None):
        state["calls"].append((list(devices), device_type))
        if device_type == "GPU":
            state["visible"] = list(devices)

    clean_env.setattr(tf.config, "list_physical_devices",
                      lambda t=None: [gpu] if t == "GPU" else real_list(t))
    clean_env.setattr(tf.config, "get_visible_devices",
                      lambda t=None: list(state["visible"]) if t == "GPU" else real_visible(t))
    clean_env.setattr(tf.config, "set_visible_devices", set_visible)
    clean_env.setattr(tf.config.experimental, "get_device_details",
                      lambda d: {"device_name": "NVIDIA Pretend 80GB"})
    was_tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    yield state
    tf.config.experimental.enable_tensor_float_32_execution(was_tf32)


@pytest.mark.frameworks
def test_tensorflow_config_builds_as_if_on_a_gpu(pretend_tf_gpu):
    from engines.tf_engine import TFEngine

    settings = RunSettings(device="cuda", mode="xla", isolation="thread", steps=10,
                           warmup_steps=1)
    engine = TFEngine()
    engine.load(settings)
    assert pretend_tf_gpu["calls"][-1][1] == "GPU" and len(pretend_tf_gpu["calls"][-1][0]) == 1
    assert engine.device_name == "/GPU:0" and engine.lstm_use_cudnn is False
    engine.settings = settings
    cfg = engine.config()  # was an AttributeError on every CUDA run (issue 14, item 1)
    assert cfg["tf32"] is False and cfg["device"] == "/GPU:0"
    assert cfg["gpu_index"] == 0 and cfg["gpu_name"] == "NVIDIA Pretend 80GB"
    assert cfg["visible_gpus"] == 1 and cfg["cudnn_autotune"] is True
    assert cfg["memory_growth"] is True  # the registry's default, set by load()
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


@pytest.mark.frameworks
@pytest.mark.parametrize("scenario, layer", [("lstm", "LSTM"), ("gru", "GRU")])
def test_tensorflow_recurrent_layers_under_xla_on_a_gpu_are_built_without_cudnn(
        pretend_tf_gpu, scenario, layer):
    from engines.tf_engine import TFEngine

    model = find(scenario, load_builtins())
    settings = settings_for(model, device="cuda", mode="xla", isolation="thread", steps=10)
    engine = TFEngine()
    engine.load(settings)
    engine.build(model, settings)  # soft placement puts the pretend GPU's ops on the CPU
    layers = [la for la in engine.model.layers if type(la).__name__ == layer]
    assert layers and all(la.use_cudnn is False for la in layers)
    assert engine.config()["lstm_kernel"].startswith("generic")  # reported for GRU too
    message = engine.classify_error(RuntimeError(
        "Detected unsupported operations when trying to compile graph on XLA_GPU_JIT: "
        "CudnnRNNV3 (No registered 'CudnnRNNV3' OpKernel for XLA_GPU_JIT devices)"))
    assert message.startswith("XLA cannot compile cuDNN's LSTM kernel")


@pytest.mark.frameworks
def test_tensorflow_on_cpu_with_a_gpu_visible_keeps_off_it(pretend_tf_gpu):
    from engines.tf_engine import TFEngine

    lstm = find("lstm", load_builtins())
    settings = settings_for(lstm, device="cpu", isolation="process", steps=10)
    engine = TFEngine()
    engine.load(settings)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""  # no CUDA context in the child
    assert pretend_tf_gpu["calls"] == [([], "GPU")]  # hidden before first use
    assert engine.device_name == "/CPU:0"
    engine.build(lstm, settings)
    assert all(la.use_cudnn is False for la in engine.model.layers
               if type(la).__name__ == "LSTM")
    scopes = []
    real_device = engine.tf.device

    def recording_device(name):
        scopes.append(name)
        return real_device(name)

    pretend = pytest.MonkeyPatch()
    pretend.setattr(engine.tf, "device", recording_device)
    try:
        engine.outputs(0)
    finally:
        pretend.undo()
    assert scopes == ["/CPU:0"]  # output parity runs where the steps run
    assert engine.config()["visible_gpus"] == 0


@pytest.mark.frameworks
def test_tensorflow_errors_with_empty_messages_and_missing_gpus(pretend_tf_gpu):
    from engines.tf_engine import TFEngine

    engine = TFEngine()
    with pytest.raises(EngineUnavailable, match="GPU 3 asked for"):
        engine.load(RunSettings(device="cuda", gpu=3, isolation="thread"))
    tf = engine.tf
    engine.device_name = "/GPU:0"
    err = tf.errors.ResourceExhaustedError(None, None, "")
    assert engine.classify_error(err) == "out of memory on /GPU:0: ResourceExhaustedError"


@pytest.fixture
def pretend_cuda(clean_env):
    """Real PyTorch whose CUDA queries report two GPUs; global flags restored afterwards."""
    torch = pytest.importorskip("torch")
    made_current = []
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setattr(torch.cuda, "device_count", lambda: 2)
    clean_env.setattr(torch.cuda, "set_device", made_current.append)
    clean_env.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA Pretend 80GB")
    clean_env.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    clean_env.setattr(torch.backends.cudnn, "allow_tf32", torch.backends.cudnn.allow_tf32)
    clean_env.setattr(torch.backends.cuda.matmul, "allow_tf32",
                      torch.backends.cuda.matmul.allow_tf32)
    return made_current


@pytest.mark.frameworks
def test_pytorch_is_pinned_to_the_chosen_gpu_with_autotuning_as_set(pretend_cuda):
    import torch

    from engines.torch_engine import TorchEngine

    settings = RunSettings(device="cuda", gpu=1, isolation="thread", cudnn_autotune=True)
    engine = TorchEngine()
    engine.load(settings)
    engine.settings = settings
    assert engine.device == torch.device("cuda", 1) and pretend_cuda == [engine.device]
    assert torch.backends.cudnn.benchmark is True
    cfg = engine.config()
    assert cfg["gpu_ordinal"] == 1 and cfg["gpu_index"] == 1 and cfg["cudnn_autotune"] is True
    assert cfg["tf32"] is False and cfg["gpu_name"] == "NVIDIA Pretend 80GB"
    with pytest.raises(EngineUnavailable, match="GPU 2 asked for"):
        TorchEngine().load(RunSettings(device="cuda", gpu=2, isolation="thread"))


@pytest.mark.frameworks
def test_pytorch_compile_on_a_gpu_without_a_compiler_says_so_up_front(pretend_cuda,
                                                                      monkeypatch):
    from engines import torch_engine

    monkeypatch.setattr(torch_engine, "triton_build_problem", lambda: "none found (CC, gcc)")
    with pytest.raises(EngineUnavailable, match="C compiler: none found"):
        torch_engine.TorchEngine().load(RunSettings(device="cuda", mode="compiled",
                                                    isolation="thread"))


@pytest.mark.frameworks
def test_pytorch_on_cpu_in_its_own_process_hides_the_gpus(clean_env):
    pytest.importorskip("torch")
    from engines.torch_engine import TorchEngine

    TorchEngine().load(RunSettings(device="cpu", isolation="process"))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    clean_env.delenv("CUDA_VISIBLE_DEVICES")
    TorchEngine().load(RunSettings(device="cpu", isolation="thread"))
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # the app's own process is left alone
