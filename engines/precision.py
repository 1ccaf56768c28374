"""Precision modes: what fp32, bf16, fp16 and tf32 mean on each side, and which a device can do.

Framework-neutral: the engines read these facts and apply them with their framework's own API
(torch.autocast / GradScaler, Keras dtype policies / LossScaleOptimizer, the TF32 switches).
A mode a device cannot do is refused before anything runs, or the engine reports itself
unavailable with the reason: a run never falls back to float32 silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PRECISIONS = ("fp32", "bf16", "fp16", "tf32")

# Dynamic loss scaling for float16, the same on both sides. The frameworks' defaults differ
# (torch.amp.GradScaler starts at 2^16, Keras's LossScaleOptimizer at 2^15); both double the
# scale after 2000 finite steps and halve it (skipping the step) on a non-finite gradient.
INITIAL_LOSS_SCALE = 2.0 ** 15
LOSS_SCALE_GROWTH_STEPS = 2000


def loss_scale_text() -> str:
    """How float16 loss scaling runs, in the words both engines report."""
    return (f"dynamic, initial {INITIAL_LOSS_SCALE:g}, x2 after {LOSS_SCALE_GROWTH_STEPS} "
            "finite steps, /2 and skip on overflow")


@dataclass(frozen=True)
class PrecisionMode:
    """One precision mode: the dtype matmuls and convolutions compute in, the Keras policy,
    whether float16 loss scaling applies, and whether TF32 is switched on (GPUs only)."""

    name: str
    compute_dtype: str  # float32 | bfloat16 | float16
    keras_policy: str  # a Keras 3 dtype policy name
    loss_scaling: bool
    tf32: bool
    gpu_only: bool
    describe: str  # the fairness report's dtype cell

    @property
    def mixed(self) -> bool:
        """True for the 16-bit modes: 16-bit compute, float32 variables."""
        return self.compute_dtype != "float32"


MODES_BY_NAME = {m.name: m for m in (
    PrecisionMode("fp32", "float32", "float32", False, False, False, "float32"),
    PrecisionMode("bf16", "bfloat16", "mixed_bfloat16", False, False, False,
                  "bf16: mixed bfloat16, float32 variables"),
    PrecisionMode("fp16", "float16", "mixed_float16", True, False, True,
                  "fp16: mixed float16, float32 variables, loss scaling"),
    PrecisionMode("tf32", "float32", "float32", False, True, True,
                  "tf32: float32, TF32 matmuls and convolutions"),
)}


def precision_mode(name: str) -> PrecisionMode:
    """The mode called `name` (fp32, bf16, fp16, tf32); ValueError for another name."""
    try:
        return MODES_BY_NAME[name]
    except KeyError:
        raise ValueError(f"precision: expected {' | '.join(PRECISIONS)}, got {name!r}") from None


def device_refusal(precision: str, device: str) -> str | None:
    """Why `precision` cannot run on `device` at all (whatever the machine), or None.

    float16 on a CPU has no fast kernels in either framework (PyTorch's CPU autocast and
    oneDNN offer bfloat16), and TF32 is a property of NVIDIA tensor cores."""
    mode = precision_mode(precision)
    if mode.gpu_only and device != "cuda":
        what = ("float16 training needs a CUDA GPU (neither framework has fast float16 CPU "
                "kernels); on a CPU use bf16" if mode.name == "fp16" else
                "TF32 is a mode of NVIDIA GPUs (Ampere or newer); on a CPU fp32 is the same "
                "thing")
        return f"{precision} needs --device cuda: {what}"
    return None


# x86 flags of native bfloat16 arithmetic, and of the AVX-512 base oneDNN converts bfloat16 on.
_NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
_EMULATED_BF16 = ("avx512bw",)


@dataclass(frozen=True)
class CpuBf16:
    """What this CPU offers for bfloat16: 'native' (bfloat16 instructions), 'emulated'
    (AVX-512: oneDNN converts to float32 and back; slower than fp32), or None (neither: both
    frameworks would fall back to slow generic kernels), with the evidence."""

    level: str | None
    evidence: str


def cpu_bf16(cpuinfo: str | None = None) -> CpuBf16:
    """bfloat16 support of this CPU, read from /proc/cpuinfo's flags (or `cpuinfo`'s text).

    On a machine without /proc/cpuinfo the answer is unknown ('unknown' level, so nothing is
    refused up front: the engines then judge with their framework's own query)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return CpuBf16("unknown", "no /proc/cpuinfo")
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / Arm
            flags.update(value.split())
    if not flags:
        return CpuBf16("unknown", "no CPU flags in /proc/cpuinfo")
    native = [f for f in (*_NATIVE_BF16, "bf16") if f in flags]  # "bf16": Arm's BF16 feature
    if native:
        return CpuBf16("native", "CPU flags " + ", ".join(native))
    emulated = [f for f in _EMULATED_BF16 if f in flags]
    if emulated:
        return CpuBf16("emulated", "CPU flag " + ", ".join(emulated) + " without avx512_bf16/"
                       "amx_bf16: oneDNN converts bfloat16 to float32 (expect it slower than "
                       "fp32)")
    return CpuBf16(None, "no bfloat16 instructions (avx512_bf16, amx_bf16, Arm bf16) and no "
                         "AVX-512 for oneDNN to emulate them")


def cpu_refusal(precision: str, device: str, cpuinfo: str | None = None) -> str | None:
    """Why this machine's CPU cannot run `precision` (bf16 without any support), or None."""
    if device != "cpu" or precision != "bf16":
        return None
    found = cpu_bf16(cpuinfo)
    if found.level is None:
        return f"bf16 on this CPU: {found.evidence}; run fp32"
    return None
