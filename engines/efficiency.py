"""Achieved FLOP/s against a measured peak: how close to the machine an engine runs.

* FLOPs per step come from the scenario catalogue (forward count x batch; training is three
  forwards: the backward pass costs two). Achieved FLOP/s = FLOPs per step / median step time.
* The peak is measured, not assumed: a short large-matmul probe in the engine's own framework,
  in its own process, at the run's device, precision and thread count (dense matmul is the
  physical limit for dense layers). It is cached per machine (CPU model, threads, device,
  precision, framework version) in a folder the caller names, and measured again on request.
* On NVIDIA GPUs the datasheet peak of known models is given beside it; the share of peak always
  refers to the measured peak, and says so.

No framework here: engines hand in a callable that runs one matmul and synchronises.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scenarios import Scenario, flops_per_step, infer_stack

CONVENTION = ("FLOPs per step = the catalogue's forward count x batch size, a multiply-add "
              "counted as 2 FLOPs (matmuls, convolutions, LSTM gate products; max-pooling one "
              "comparison per input; bias adds, activations and the optimizer update not "
              "counted); training = 3x forward (backward = 2x forward); achieved FLOP/s = "
              "FLOPs per step / median steady step time")
PEAK_METHOD = ("peak = best of repeated n x n matmuls (2 n^3 FLOPs each) in the engine's "
               "framework and process, at the run's device, precision and thread count")

# Matrix sides the probe tries, smallest first; it moves up while one matmul is shorter than
# the device's "long enough" (timed well, every core busy). CPU sides stay small: the probe's
# three matrices add to the engine's peak RSS (12 MiB at 1024 in float32, 48 MiB at 2048),
# which cannot be reset; a GPU's peak memory statistics are reset after the probe.
CPU_SIDES = (256, 512, 1024, 2048)
GPU_SIDES = (2048, 4096, 8192)
LONG_ENOUGH_S = {"cpu": 0.002, "cuda": 0.01}
PROBE_BUDGET_S = 1.0


def run_flops_per_step(scenario: Scenario, batch_size: int, task: str) -> int:
    """FLOPs of one step of `scenario` at `batch_size` (training: 3x forward)."""
    infos = infer_stack(scenario.layers, scenario.data.input_shape)
    return flops_per_step(infos, batch_size, train=task == "train")


def time_matmul_peak(make_probe: Callable[[int], Callable[[], None]], sides: tuple[int, ...],
                     budget_s: float = PROBE_BUDGET_S, min_reps: int = 3,
                     clock: Callable[[], float] = time.perf_counter,
                     long_enough_s: float = LONG_ENOUGH_S["cuda"]) -> dict[str, Any]:
    """Time n x n matmuls; the peak is the best repetition at the chosen side.

    `make_probe(n)` returns a callable that runs one matmul of side n and waits for it. The
    side grows while one matmul takes under `long_enough_s`; then repetitions run until
    `budget_s` has passed (at least `min_reps`). The best repetition is the peak: a slower one
    was interrupted, not a property of the machine.
    """
    t_start = clock()
    side = sides[0]
    probe = make_probe(side)
    for i, side in enumerate(sides):
        if i:
            probe = make_probe(side)
        probe()  # first call: allocation, kernel selection, caches
        t0 = clock()
        probe()
        once = clock() - t0
        if once >= long_enough_s or i == len(sides) - 1:
            break
    times = [once]
    while len(times) < min_reps or clock() - t_start < budget_s:
        t0 = clock()
        probe()
        times.append(clock() - t0)
        if len(times) >= 10_000:
            break
    best = min(times)
    flops = 2.0 * side ** 3
    return {"flops_per_s": flops / best if best > 0 else None, "matrix_side": side,
            "repetitions": len(times), "best_s": best, "probe_s": clock() - t_start}


def flops_rate_text(x: float | None, missing: str = "-") -> str:
    """A FLOP rate with an SI prefix: '54.2 GFLOP/s' (`missing` for None)."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
        return missing
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g} {prefix}FLOP/s"
    return f"{x:.3g} FLOP/s"


# -- the cache ---------------------------------------------------------------------------------

def cache_key(identity: dict[str, Any]) -> str:
    """A stable file-name-safe key of a probe's identity (machine, device, precision...)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


class PeakCache:
    """Measured peaks, one small JSON file per identity, in `folder` (created on first write).

    What is read back is data: an entry whose identity or figures do not check is ignored
    (and measured again), never trusted."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, identity: dict[str, Any]) -> Path:
        return self.folder / f"peak-{cache_key(identity)}.json"

    def get(self, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The cached measurement for `identity`, or None."""
        try:
            entry = json.loads(self._path(identity).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not _positive(entry.get("flops_per_s")):
            return None
        if json.dumps(entry.get("identity"), sort_keys=True, default=str) != \
                json.dumps(identity, sort_keys=True, default=str):
            return None  # a hash collision or a hand-edited file
        measured_at = entry.get("measured_at")
        return {"flops_per_s": float(entry["flops_per_s"]),
                "matrix_side": entry.get("matrix_side") if isinstance(
                    entry.get("matrix_side"), int) else None,
                "measured_at": measured_at if _positive(measured_at) else None}

    def put(self, identity: dict[str, Any], result: dict[str, Any]) -> None:
        """Store a measurement atomically (a temporary file, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(identity)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        entry = {"identity": identity, "flops_per_s": result.get("flops_per_s"),
                 "matrix_side": result.get("matrix_side"), "measured_at": time.time()}
        try:
            tmp.write_text(json.dumps(entry, sort_keys=True, default=str), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the folder's probe lock: two engine processes never probe at the same time
        (each would measure the other's load). Without fcntl (Windows) it does not lock."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on Linux/macOS
            yield
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "probe.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


# -- datasheet peaks of NVIDIA GPUs ------------------------------------------------------------

# Dense (no structured sparsity) peak TFLOP/s at boost clock, from NVIDIA's datasheets, by
# precision: fp32 without TF32, tf32, bf16 and fp16 tensor cores (FP32 accumulate). None: the
# GPU has no such mode. Matched against the name NVML / the framework reports, in this order.
DATASHEET_TFLOPS: tuple[tuple[str, str, dict[str, float | None]], ...] = (
    (r"H200.*NVL", "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H200", "H200 SXM", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"H100.*NVL", "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5}),
    (r"H100.*(SXM|HBM3)", "H100 SXM", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4,
                                       "fp16": 989.4}),
    (r"A100", "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"L40S", "L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bA10\b", "A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}),
    (r"V100.*PCIE", "V100 PCIe", {"fp32": 14.0, "tf32": None, "bf16": None, "fp16": 112.0}),
    (r"V100", "V100 SXM2", {"fp32": 15.7, "tf32": None, "bf16": None, "fp16": 125.0}),
    (r"\bT4\b", "T4", {"fp32": 8.1, "tf32": None, "bf16": None, "fp16": 65.0}),
)


def datasheet_peak(gpu_name: str | None, precision: str) -> dict[str, Any] | None:
    """{model, flops_per_s} of a known NVIDIA GPU at `precision`, or None when the model is not
    in the table (or has no such mode)."""
    if not gpu_name:
        return None
    for pattern, model, peaks in DATASHEET_TFLOPS:
        if re.search(pattern, gpu_name, re.IGNORECASE):
            tflops = peaks.get(precision)
            if tflops is None:
                return None
            return {"model": model, "flops_per_s": tflops * 1e12,
                    "note": "NVIDIA datasheet, dense, boost clock"}
    return None


# -- the export's efficiency block ------------------------------------------------------------

def efficiency_block(flops: int | None, median_s: float | None, peak: dict[str, Any] | None,
                     datasheet: dict[str, Any] | None = None) -> dict[str, Any]:
    """One engine's `efficiency` block: FLOPs per step, achieved FLOP/s, the measured peak it
    is a share of (and where it came from), the datasheet peak where known, the convention.

    `peak` is what the engine's session reported ({flops_per_s, source, reason...}); a figure
    that cannot be known is None, with `peak_source` saying why."""
    achieved = flops / median_s if flops and _positive(median_s) else None
    peak = peak or {}
    peak_flops = peak.get("flops_per_s") if _positive(peak.get("flops_per_s")) else None
    source = peak.get("source") if peak_flops else None
    out: dict[str, Any] = {
        "flops_per_step": flops,
        "achieved_flops": achieved,
        "peak_flops": peak_flops,
        "peak_source": source or f"none: {peak.get('reason') or 'not measured'}",
        "share_of_peak": achieved / peak_flops if achieved and peak_flops else None,
        "share_refers_to": "measured peak" if peak_flops else None,
        "convention": CONVENTION,
    }
    if peak_flops:
        out["peak_method"] = PEAK_METHOD
        for key in ("matrix_side", "measured_at", "probe_s", "probe_bytes"):
            if peak.get(key) is not None:
                out[f"peak_{key}"] = peak[key]
    if datasheet:
        out["datasheet_model"] = datasheet["model"]
        out["datasheet_peak_flops"] = datasheet["flops_per_s"]
        out["share_of_datasheet_peak"] = achieved / datasheet["flops_per_s"] if achieved \
            else None
    return out
