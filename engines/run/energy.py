"""Energy per step and per sample, measured in the engine's own process over its steady steps.

Sources, best first:
* NVIDIA GPUs: NVML's total-energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ since the
  driver loaded; Volta and newer). It updates every 20-100 ms, so it is read at the edges of
  whole turns, never around single steps;
* NVIDIA GPUs without that counter: NVML power readings sampled every 50 ms during the turns,
  integrated over time;
* CPUs: RAPL package counters (/sys/class/powercap/intel-rapl:N/energy_uj, microjoules, they
  wrap at max_energy_range_uj). Root-only on Linux 5.10 and later.

Every counter is device- or package-wide: it includes whatever else runs there (the UI, the
waiting engine's idle threads). Where nothing can be measured the block says "n/a" and why;
no figure is ever estimated in its place.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

POWERCAP_ROOT = Path("/sys/class/powercap")
POWER_SAMPLE_S = 0.05
# Below this much measured time NVML's counter (20-100 ms updates) says too little.
MIN_NVML_WINDOW_S = 1.0


class Unmeasurable(Exception):
    """No energy source here; the message says why."""


class RaplCounter:
    """The RAPL package domains' energy, in joules since the first read (wraps handled)."""

    source = "rapl"

    def __init__(self, root: Path = POWERCAP_ROOT):
        if not root.is_dir():
            raise Unmeasurable(f"no RAPL counters ({root} is absent: a VM, a container, or not "
                               "Linux on Intel/AMD)")
        # Package domains are intel-rapl:N; intel-rapl:N:M are parts of a package (cores,
        # uncore, DRAM), already counted in it.
        self.domains = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not self.domains:
            raise Unmeasurable(f"no RAPL package domain under {root}")
        names = []
        for d in self.domains:
            try:
                names.append((d / "name").read_text().strip() or d.name)
            except OSError:
                names.append(d.name)
        self.scope = "CPU " + ", ".join(names) + " (whole package: every process on it)"
        self.ranges = [self._read_int(d / "max_energy_range_uj", missing=None)
                       for d in self.domains]
        self.last = [self._read_int(d / "energy_uj") for d in self.domains]
        self.total_uj = 0

    @staticmethod
    def _read_int(path: Path, missing: Any = Unmeasurable) -> Any:
        try:
            return int(path.read_text().strip())
        except PermissionError:
            raise Unmeasurable(f"RAPL energy counters are not readable ({path} needs root on "
                               "Linux 5.10 and later)") from None
        except (OSError, ValueError) as err:
            if missing is Unmeasurable:
                raise Unmeasurable(f"RAPL counter {path} unreadable ({err})") from None
            return missing

    def read_j(self) -> float:
        """Joules used since this counter was made."""
        for i, d in enumerate(self.domains):
            now = self._read_int(d / "energy_uj")
            delta = now - self.last[i]
            if delta < 0:  # the counter wrapped
                delta += self.ranges[i] or 0
            self.total_uj += max(0, delta)
            self.last[i] = now
        return self.total_uj / 1e6


class NvmlEnergyCounter:
    """NVML's total-energy counter of one GPU, in joules."""

    source = "nvml_total_energy"

    def __init__(self, nv: Any, handle: Any, scope: str):
        self.nv, self.handle, self.scope = nv, handle, scope
        self.read_j()  # raises where the GPU has no counter (before Volta)

    def read_j(self) -> float:
        return self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0


class NvmlPowerIntegrator:
    """Energy from NVML power readings sampled every POWER_SAMPLE_S while a window is open
    (GPUs without the energy counter). A background thread; trapezoidal integration."""

    source = "nvml_power_samples"

    def __init__(self, nv: Any, handle: Any, scope: str,
                 clock: Callable[[], float] = time.perf_counter):
        self.nv, self.handle, self.scope, self.clock = nv, handle, scope, clock
        self.total_j = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watts()  # raises where power cannot be read

    def _watts(self) -> float:
        return self.nv.nvmlDeviceGetPowerUsage(self.handle) / 1000.0

    def start(self) -> None:
        self._stop.clear()
        self._last = (self.clock(), self._watts())
        self._thread = threading.Thread(target=self._loop, name="power-samples", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        t, w = self.clock(), self._watts()
        t0, w0 = self._last
        self.total_j += (t - t0) * (w + w0) / 2
        self._last = (t, w)

    def _loop(self) -> None:
        while not self._stop.wait(POWER_SAMPLE_S):
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a lost reading ends this window's samples
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        try:
            self._sample()
        except Exception:  # noqa: BLE001
            pass

    def read_j(self) -> float:
        return self.total_j


def _load_pynvml() -> Any:
    import pynvml

    return pynvml


def gpu_counter(index: int | None, nvml_module: Callable[[], Any] = _load_pynvml) -> Any:
    """The best energy source of NVML GPU `index`; Unmeasurable with the reason otherwise."""
    if index is None:
        raise Unmeasurable("the engine's CUDA device is not mapped to an NVML index")
    try:
        nv = nvml_module()
        nv.nvmlInit()
    except ImportError:
        raise Unmeasurable("nvidia-ml-py is not installed") from None
    except Exception as err:  # noqa: BLE001 - driver errors
        raise Unmeasurable(f"NVML unavailable ({type(err).__name__})") from None
    try:
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        name = nv.nvmlDeviceGetName(handle)
    except Exception as err:  # noqa: BLE001
        raise Unmeasurable(f"NVML GPU {index}: {type(err).__name__}") from None
    name = name.decode(errors="replace") if isinstance(name, bytes) else name
    scope = f"GPU {index} ({name}): the whole device"
    try:
        return NvmlEnergyCounter(nv, handle, scope)
    except Exception:  # noqa: BLE001 - no counter on this GPU (pre-Volta) or driver
        pass
    try:
        return NvmlPowerIntegrator(nv, handle, scope)
    except Exception as err:  # noqa: BLE001
        raise Unmeasurable(f"NVML GPU {index} reports neither energy nor power "
                           f"({type(err).__name__})") from None


class EnergyMeter:
    """Energy over an engine's steady steps: `begin()` before the first steady step of a turn,
    `end(steps)` after the turn's last; the windows add up over the run."""

    def __init__(self, counter: Any = None, reason: str | None = None):
        self.counter = counter
        self.reason = reason if counter is None else None
        self.joules = 0.0
        self.seconds = 0.0
        self.steps = 0
        self._open: tuple[float, float] | None = None

    @property
    def active(self) -> bool:
        return self.counter is not None

    def begin(self) -> None:
        """Open a window (no-op without a source, or when one is open)."""
        if self.counter is None or self._open is not None:
            return
        try:
            if hasattr(self.counter, "start"):
                self.counter.start()
            self._open = (time.perf_counter(), self.counter.read_j())
        except Exception as err:  # noqa: BLE001 - a counter that fails mid-run
            self._fail(err)

    def end(self, steps: int) -> None:
        """Close the window opened by begin(); `steps` were run inside it."""
        if self._open is None:
            return
        t0, j0 = self._open
        self._open = None
        try:
            if hasattr(self.counter, "stop"):
                self.counter.stop()
            joules = self.counter.read_j() - j0
        except Exception as err:  # noqa: BLE001
            self._fail(err)
            return
        self.joules += max(0.0, joules)
        self.seconds += time.perf_counter() - t0
        self.steps += steps

    def _fail(self, err: BaseException) -> None:
        self.reason = f"the energy source failed mid-run ({type(err).__name__})"
        self.counter = None
        self._open = None
        self.joules = self.seconds = 0.0
        self.steps = 0

    def to_dict(self, batch_size: int) -> dict[str, Any]:
        """The export's energy block; every figure None ("n/a") with a reason where unknown."""
        out: dict[str, Any] = {
            "source": getattr(self.counter, "source", None),
            "scope": getattr(self.counter, "scope", None),
            "joules": None, "seconds": None, "steps": self.steps, "per_step_j": None,
            "per_sample_j": None, "avg_power_w": None, "reason": self.reason,
        }
        if self.counter is None:
            out["source"] = out["scope"] = None
            out["reason"] = self.reason or "not measured"
            return out
        if not self.steps or self.seconds <= 0:
            out["reason"] = "no steady steps measured yet"
            return out
        if self.counter.source == "nvml_total_energy" and self.seconds < MIN_NVML_WINDOW_S:
            out["reason"] = (f"only {self.seconds:.2f} s of steady steps: NVML's counter "
                             "updates every 20-100 ms, too coarse for so short a window")
            return out
        per_step = self.joules / self.steps
        out.update({"joules": self.joules, "seconds": self.seconds, "per_step_j": per_step,
                    "per_sample_j": per_step / max(1, batch_size),
                    "avg_power_w": self.joules / self.seconds,
                    "note": "steady steps only, summed over whole turns; the counter covers "
                            "the whole device or package, other processes on it included"})
        return out


def energy_meter(device: str, gpu_index: int | None, schedule: str, simulated: bool = False,
                 powercap_root: Path | None = None,
                 nvml_module: Callable[[], Any] = _load_pynvml) -> EnergyMeter:
    """The meter for an engine on `device` (its NVML index on a GPU), or one that says why
    there is none."""
    if simulated:
        return EnergyMeter(reason="simulated engine: nothing measured")
    if schedule == "parallel":
        return EnergyMeter(reason="both engines ran at once (parallel): a device-wide counter "
                                  "cannot tell their energy apart")
    try:
        if device == "cuda":
            return EnergyMeter(gpu_counter(gpu_index, nvml_module))
        return EnergyMeter(RaplCounter(powercap_root or POWERCAP_ROOT))
    except Unmeasurable as why:
        return EnergyMeter(reason=str(why))
