"""Describe the machine a run happened on, without importing any framework; and which GPU an
engine's CUDA ordinal is in NVML's (nvidia-smi's) numbering."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, Mapping

_PACKAGES = ("torch", "tensorflow", "keras", "numpy", "textual", "psutil", "nvidia-ml-py")

# Environment that decides which GPU a framework uses and how, recorded with every run: a
# user's own setting wins silently otherwise (TF_FORCE_GPU_ALLOW_GROWTH=false reserves nearly
# all GPU memory at start).
GPU_ENV = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH",
           "TF_CUDNN_USE_AUTOTUNE", "XLA_FLAGS")

# CUDA numbers devices fastest first unless told otherwise; NVML (nvidia-smi) numbers them by
# PCI bus. With PCI_BUS_ID both agree, so `--gpu N` means nvidia-smi's GPU N. Read when CUDA
# initialises: set in every engine process before the framework touches CUDA (setdefault: a
# user's own order wins, and is recorded).
CUDA_ORDER = ("CUDA_DEVICE_ORDER", "PCI_BUS_ID")


def use_pci_bus_order(environ: Any = None) -> None:
    """Number CUDA devices as NVML does (unless the user chose an order): call before CUDA
    initialises in this process."""
    (os.environ if environ is None else environ).setdefault(*CUDA_ORDER)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape a result (None where missing)."""
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_environment(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The GPU-related environment variables as set (None where unset)."""
    env = os.environ if environ is None else environ
    return {key: env.get(key) for key in GPU_ENV}


def environment(gpus: list[dict[str, Any]] | None = None,
                nvidia: dict[str, Any] | None = None) -> dict[str, Any]:
    """Python, platform, CPU, GPUs and driver (from telemetry), GPU environment variables and
    package versions."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus or [],
        "nvidia": nvidia or {},
        "gpu_env": gpu_environment(),
        "versions": package_versions(),
    }


def visible_devices(value: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: None when unset (every device), else the entries
    up to the first invalid one (CUDA ignores the rest: "0,2,-1,1" shows 0 and 2)."""
    if value is None:
        return None
    out = []
    for entry in value.split(","):
        entry = entry.strip()
        if entry.startswith(("GPU-", "MIG-")):
            out.append(entry)
        elif entry.isdigit():
            out.append(str(int(entry)))
        else:
            break
    return out


def nvml_index(ordinal: int, environ: Mapping[str, str] | None = None,
               uuids: Mapping[str, int] | None = None) -> tuple[int | None, str]:
    """NVML's index of the device a framework calls CUDA ordinal `ordinal`, with how it was
    found (or why not): (index or None, note).

    `uuids` maps NVML UUIDs to NVML indices, for CUDA_VISIBLE_DEVICES given as UUIDs (CUDA
    accepts a unique prefix of one).
    """
    env = os.environ if environ is None else environ
    order = env.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    entries = visible_devices(env.get("CUDA_VISIBLE_DEVICES"))
    if entries is not None:
        if ordinal >= len(entries):
            return None, f"CUDA_VISIBLE_DEVICES lists {len(entries)} device(s)"
        entry = entries[ordinal]
        if entry.startswith("GPU-"):
            matches = [i for u, i in (uuids or {}).items() if u.startswith(entry)]
            if len(matches) == 1:
                return matches[0], f"UUID {entry}"
            return None, f"UUID {entry} not matched to an NVML device"
        if entry.startswith("MIG-"):
            return None, "a MIG instance (NVML indexes the parent GPU)"
        ordinal = int(entry)
    if order != "PCI_BUS_ID":
        return None, (f"CUDA_DEVICE_ORDER={order}: CUDA numbers devices fastest first, "
                      "NVML by PCI bus")
    return ordinal, "PCI bus order"


def gpu_identity(ordinal: int, name: str | None, visible: int) -> dict[str, Any]:
    """Which GPU an engine runs on, for its config: CUDA ordinal, NVML (nvidia-smi) index and
    how it was mapped, the GPU's name, and how many GPUs the framework can see."""
    index, how = nvml_index(ordinal)
    return {"gpu_ordinal": ordinal, "gpu_index": index, "gpu_index_note": how,
            "gpu_name": name, "visible_gpus": visible}
