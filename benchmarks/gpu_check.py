"""GPU check: what the first runs on an NVIDIA GPU find. Prints only; asserts nothing.

Usage: python benchmarks/gpu_check.py OUT_DIR [--dry-run-on-cpu]

Prints NVML's facts (driver, persistence mode, the type NVML names come back as, how long
nvmlInit took), PyTorch's and TensorFlow's CUDA and cuDNN versions, whether an engine child's
PID appears in NVML's process list; then runs, on --device cuda, mlp eager, cnn eager and
compiled, lstm xla and mlp infer (each exported to OUT_DIR), mlp with TensorFlow made
unavailable, and lstm on --device cpu. For each engine: status, error, device, TF32, peak
memory, median step and its GPU memory as NVML saw it.

Needs Python 3.10+, numpy, psutil, nvidia-ml-py and PyTorch (a CUDA build). TensorFlow is
optional (its figures then read "unavailable"); Textual and the app (tui/) are not used.
Each run is short and the whole check stops starting runs after 4 minutes, so it ends within
5. --dry-run-on-cpu runs the same list on the CPU, to check this script on a machine without
a GPU. --precisions runs mlp and cnn at fp32, tf32, bf16 and fp16 instead, with the measured
matmul peak, the achieved share of it and the energy NVML reports.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 240.0  # no run starts after this; each run is also cut at what is left + 50 s
STEPS = 40

TORCH_FACTS = """
import json, torch
out = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
       "OutOfMemoryError": hasattr(torch, "OutOfMemoryError")}
try:
    out["cudnn"] = torch.backends.cudnn.version()
except Exception as err:
    out["cudnn"] = f"error: {err}"
out["cuda_available"] = torch.cuda.is_available()
if out["cuda_available"]:
    out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    out["capability"] = [list(torch.cuda.get_device_capability(i))
                         for i in range(torch.cuda.device_count())]
print(json.dumps(out))
"""

TF_FACTS = """
import json, tensorflow as tf
b = dict(tf.sysconfig.get_build_info())
print(json.dumps({"tensorflow": tf.__version__, "cuda": b.get("cuda_version"),
                  "cudnn": b.get("cudnn_version"), "cuda_build": b.get("is_cuda_build"),
                  "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}))
"""


def say(text: str = "") -> None:
    print(text, flush=True)


def missing_modules() -> list[str]:
    """Modules the engines package needs (beyond the standard library) that are missing."""
    out = []
    for module, package in (("numpy", "numpy"), ("psutil", "psutil"),
                            ("pynvml", "nvidia-ml-py"), ("torch", "torch (a CUDA build)")):
        if importlib.util.find_spec(module) is None:  # found, not imported: no CUDA here
            out.append(package)
    return out


def facts_in_child(code: str, label: str) -> dict[str, Any] | None:
    """Run `code` in a fresh interpreter (this process must hold no CUDA context: it would
    show in NVML's process list and memory) and read the JSON it prints."""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        say(f"  {label}: timed out")
        return None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        say(f"  {label}: unavailable ({tail[:200]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def nvml_facts() -> tuple[Any, Any]:
    """Print what NVML says; return (the engines' NVML wrapper, the raw pynvml module)."""
    from engines.run.telemetry import NVML

    say("== NVML")
    nvml = NVML(background=False)
    say(f"  status: {nvml.status()}; nvmlInit took {nvml.init_s or 0:.3f} s")
    if not nvml.available:
        return nvml, None
    import pynvml

    say(f"  nvidia-ml-py: nvmlDeviceGetTemperatureV "
        f"{'present' if hasattr(pynvml, 'nvmlDeviceGetTemperatureV') else 'absent'}")
    system = nvml.system()
    say(f"  driver {system.get('driver_version')}, CUDA driver "
        f"{system.get('cuda_driver_version')}")
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    say(f"  nvmlDeviceGetName returns {type(pynvml.nvmlDeviceGetName(h)).__name__}")
    for g in nvml.gpus():
        say(f"  GPU {g['index']}: {g['name']}, {g['memory_total'] or 0:,} B, bus "
            f"{g['pci_bus_id']}, persistence mode {g['persistence_mode']}, {g['uuid']}")
    for g in nvml.sample({}):
        say(f"  GPU {g['index']} now: util {g['util_pct']} %, temp {g['temp_c']} °C, "
            f"power {g['power_w']} W, {g['processes']} compute process(es)")
    return nvml, pynvml


def framework_facts() -> dict[str, Any] | None:
    say("== frameworks")
    torch = facts_in_child(TORCH_FACTS, "PyTorch")
    if torch:
        say(f"  PyTorch {torch['torch']}: CUDA build {torch['cuda_build']}, cuDNN "
            f"{torch['cudnn']}, CUDA available {torch['cuda_available']}, devices "
            f"{torch.get('devices')}, capability {torch.get('capability')}, "
            f"torch.OutOfMemoryError {'present' if torch['OutOfMemoryError'] else 'absent'}")
    tf = facts_in_child(TF_FACTS, "TensorFlow")
    if tf:
        say(f"  TensorFlow {tf['tensorflow']}: CUDA {tf['cuda']}, cuDNN {tf['cudnn']}, CUDA "
            f"build {tf['cuda_build']}, GPUs {tf['gpus']}")
    from engines.torch_engine import triton_build_problem

    say(f"  Triton build needs (C compiler, Python.h): {triton_build_problem() or 'found'}")
    return torch


class TensorFlowHidden:
    """Within the block, engine children cannot import TensorFlow or Keras: spawned children
    take the parent's sys.path, which starts with a folder of stand-ins that raise."""

    def __enter__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="gpu-check-no-tf-")
        for name in ("tensorflow", "keras"):
            pkg = Path(self.dir.name) / name
            pkg.mkdir()
            (pkg / "__init__.py").write_text(
                f"raise ImportError('{name} made unavailable by gpu_check')\n")
        sys.path.insert(0, self.dir.name)

    def __exit__(self, *exc: Any) -> None:
        sys.path.remove(self.dir.name)
        self.dir.cleanup()


def fmt_bytes(n: Any) -> str:
    return "-" if not n else f"{n / 2**20:,.0f} MiB"


def gpu_memory_seen(doc: dict[str, Any], name: str) -> str:
    """The most NVML attributed to the engine's process over the run, or why nothing."""
    best, notes = 0, set()
    for s in doc["telemetry"]["samples"]:
        for g in s.get("gpus") or []:
            best = max(best, (g.get("engine_mem") or {}).get(name) or 0)
        note = (s.get("gpu_engine_notes") or {}).get(name)
        if note:
            notes.add(note)
    if best:
        return f"{fmt_bytes(best)} (NVML, by PID)"
    return f"none by PID ({', '.join(sorted(notes)) or 'no GPU sample'})"


def run_one(label: str, scenario_name: str, overrides: dict[str, Any], out: Path,
            deadline: float, pynvml: Any) -> None:
    from engines import Comparison, export, settings_for
    from scenarios import find, load_builtins

    left = deadline - time.monotonic()
    say(f"== {label}")
    if left <= 0:
        say("  skipped: the check's time budget is spent")
        return
    scenario = find(scenario_name, load_builtins())
    threads = max(1, min(4, (os.cpu_count() or 2) - 1))
    try:
        settings = settings_for(scenario, steps=STEPS, warmup_steps=5, threads=threads,
                                batch_size=min(scenario.train.batch_size, 128), **overrides)
    except ValueError as err:  # e.g. tf32 or fp16 on the CPU of a dry run
        say(f"  refused before running: {err}")
        return
    comp = Comparison(scenario, settings, {"pytorch": "pytorch", "tensorflow": "tensorflow"},
                      telemetry=True, telemetry_hz=10)
    children: set[int] = set()
    listed: set[int] = set()
    errors: set[str] = set()

    def poll() -> None:
        # The PIDs NVML lists against the engine children's own, while they run.
        with comp.state.lock:
            children.update(es.pid for es in comp.state.engines.values() if es.pid)
        if pynvml is None:
            return
        try:
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                listed.update(p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h))
        except Exception as err:  # noqa: BLE001 - said below
            errors.add(type(err).__name__)

    t0 = time.perf_counter()
    comp.start()
    if not comp.wait(timeout=left + 50, poll=poll):
        comp.cancel()
        comp.wait(timeout=10)
        say("  cut: ran past the check's time budget")
    path = export(comp.state, out / f"{label.split(',')[0].replace(' ', '-')}.json")
    doc = json.loads(path.read_text())
    say(f"  {time.perf_counter() - t0:.0f} s, exported to {path}")
    if pynvml is not None:
        matched = sorted(children & listed)
        say(f"  engine child PIDs {sorted(children)}; NVML listed {sorted(listed)}"
            + (f" (query failed: {', '.join(sorted(errors))})" if errors else "")
            + (f": matched {matched}" if matched else ": no match"))
    say(f"  gpu_status: {doc['telemetry']['gpu_status']}")
    for name, e in doc["engines"].items():
        c, m, s = e.get("config") or {}, e.get("memory") or {}, e.get("summary") or {}
        median = s.get("median_step_s")
        say(f"  {name}: {e['status']}" + (f" - {e['error'][:300]}" if e.get("error") else ""))
        if c:
            say(f"    device {c.get('device')} (nvidia-smi GPU {c.get('gpu_index')}, "
                f"{c.get('gpu_name')}; sees {c.get('visible_gpus')} GPU(s); "
                f"CUDA_VISIBLE_DEVICES={c.get('cuda_visible_devices')!r}), "
                f"TF32 {c.get('tf32')}, cuDNN autotune {c.get('cudnn_autotune')}, "
                f"LSTM kernel {c.get('lstm_kernel', '-')}, mode {c.get('mode')}")
        step = f"{median * 1e3:.3f} ms" if median else "-"
        say(f"    peak memory: device {fmt_bytes(m.get('device_peak'))}, held "
            f"{fmt_bytes(m.get('device_current'))}, host RSS "
            f"{fmt_bytes(m.get('host_peak_rss'))}; median step {step}")
        say(f"    GPU memory by NVML: {gpu_memory_seen(doc, name)}")
        eff, energy = e.get("efficiency") or {}, e.get("energy") or {}
        if e["status"] == "done":
            say(f"    precision {c.get('precision', '-')} ({c.get('dtype', '-')}, compute "
                f"{c.get('compute_dtype', '-')}, "
                f"loss scale {c.get('loss_scale', '-')}); achieved "
                f"{_flops(eff.get('achieved_flops'))} of peak {_flops(eff.get('peak_flops'))} "
                f"({eff.get('peak_source') or '-'}), share "
                f"{_pct(eff.get('share_of_peak'))}; datasheet "
                f"{_flops(eff.get('datasheet_peak_flops'))}")
            say(f"    energy: {energy.get('source') or 'n/a'}"
                + (f", {energy['per_step_j']:.4f} J/step, {energy.get('avg_power_w')} W"
                   if energy.get("per_step_j") else f" ({energy.get('reason')})"))
    warnings = [w["text"] for w in (doc.get("fairness") or {}).get("warnings", [])]
    for text in warnings:
        say(f"  fairness: {text}")


def _flops(x: Any) -> str:
    return f"{x / 1e12:.2f} TFLOP/s" if isinstance(x, (int, float)) and x else "-"


def _pct(x: Any) -> str:
    return f"{x:.0%}" if isinstance(x, (int, float)) else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="folder for the exported runs (created)")
    p.add_argument("--dry-run-on-cpu", action="store_true",
                   help="run the same list on the CPU (to check this script without a GPU)")
    p.add_argument("--precisions", action="store_true",
                   help="instead: mlp and cnn at fp32, tf32, bf16 and fp16 with the measured "
                        "matmul peak (efficiency) and energy")
    args = p.parse_args()
    t_start = time.monotonic()
    say(f"python {sys.version.split()[0]} on {sys.platform}")
    missing = missing_modules()
    if missing:
        say(f"missing: {', '.join(missing)}; install with: pip install "
            f"{' '.join(m.split(' ')[0] for m in missing)}")
        if {"numpy", "psutil"} & set(missing):  # the engines package needs them to load
            return 2
    sys.path.insert(0, str(ROOT))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nvml, pynvml = nvml_facts()
    torch = framework_facts()
    gpu = bool(nvml.available and torch and torch.get("cuda_available"))
    device = "cuda"
    if not gpu:
        say(f"no GPU to check: NVML says '{nvml.status()}'; PyTorch: "
            + ("not importable" if torch is None else
               f"CUDA available {bool(torch.get('cuda_available'))}"))
        if not args.dry_run_on_cpu:
            say("nothing more to do (--dry-run-on-cpu runs the list on the CPU)")
            return 0
        device = "cpu"
    deadline = t_start + BUDGET_S
    runs = [
        ("mlp eager", "mlp", {"mode": "eager"}),
        ("cnn eager", "cnn", {"mode": "eager"}),
        ("cnn compiled", "cnn", {"mode": "compiled"}),
        ("lstm xla", "lstm", {"mode": "xla"}),
        ("mlp infer", "mlp", {"task": "infer"}),
    ]
    if args.precisions:
        runs = [(f"{name} {precision}", name, {"precision": precision, "measure_peak": True})
                for name in ("mlp", "cnn")
                for precision in ("fp32", "tf32", "bf16", "fp16")]
    for label, scenario, overrides in runs:
        run_one(f"{label} {device}", scenario, {**overrides, "device": device}, out, deadline,
                pynvml)
    if args.precisions:
        say(f"== done in {time.monotonic() - t_start:.0f} s")
        nvml.close()
        return 0
    with TensorFlowHidden():
        run_one(f"mlp-no-tf eager {device}, TensorFlow made unavailable", "mlp",
                {"device": device}, out, deadline, pynvml)
    run_one("lstm eager cpu", "lstm", {"device": "cpu"}, out, deadline, pynvml)
    say(f"== done in {time.monotonic() - t_start:.0f} s")
    nvml.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
