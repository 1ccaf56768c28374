"""Hardware telemetry: CPU/memory per engine process (psutil) and GPUs (NVML), sampled.

A failing query yields None ("N/A"), never an exception: telemetry must not stop a run.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import psutil


class NVML:
    """NVML wrapper: detects the library once; every query degrades to None on error."""

    def __init__(self) -> None:
        self.available = False
        self.reason = ""
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nv = pynvml
            self.count = pynvml.nvmlDeviceGetCount()
            self.available = True
        except ImportError:
            self.reason = "no NVIDIA GPU telemetry (nvidia-ml-py not installed)"
        except Exception as err:  # noqa: BLE001 - NVMLError_LibraryNotFound, driver errors
            name = type(err).__name__
            self.reason = ("no NVIDIA GPU (driver not found)" if "NotFound" in name
                           else f"no NVIDIA GPU ({name})")

    def _q(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001
            return None

    def gpus(self) -> list[dict[str, Any]]:
        """Static description of each GPU."""
        if not self.available:
            return []
        out = []
        for i in range(self.count):
            h = self._q(lambda: self.nv.nvmlDeviceGetHandleByIndex(i))
            name = self._q(lambda: self.nv.nvmlDeviceGetName(h))
            mem = self._q(lambda: self.nv.nvmlDeviceGetMemoryInfo(h))
            out.append({"index": i, "name": name.decode() if isinstance(name, bytes) else name,
                        "memory_total": getattr(mem, "total", None)})
        return out

    def sample(self, pids: dict[str, int | None]) -> list[dict[str, Any]]:
        """One reading per GPU: utilisation, memory, power, temperature, per-engine memory."""
        if not self.available:
            return []
        nv = self.nv
        out = []
        for i in range(self.count):
            h = self._q(lambda: nv.nvmlDeviceGetHandleByIndex(i))
            util = self._q(lambda: nv.nvmlDeviceGetUtilizationRates(h))
            mem = self._q(lambda: nv.nvmlDeviceGetMemoryInfo(h))
            power = self._q(lambda: nv.nvmlDeviceGetPowerUsage(h))
            temp = self._q(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            procs = self._q(lambda: nv.nvmlDeviceGetComputeRunningProcesses(h)) or []
            by_pid = {p.pid: p.usedGpuMemory for p in procs}
            out.append({
                "index": i,
                "util_pct": getattr(util, "gpu", None),
                "mem_used": getattr(mem, "used", None),
                "mem_total": getattr(mem, "total", None),
                "power_w": power / 1000.0 if power is not None else None,
                "temp_c": temp,
                "engine_mem": {name: by_pid.get(pid) for name, pid in pids.items() if pid},
            })
        return out


class TelemetrySampler:
    """Background thread sampling CPU/RSS of each engine process and every GPU at `hz`."""

    def __init__(self, pids: Callable[[], dict[str, int | None]],
                 sink: Callable[[dict[str, Any]], None], hz: float = 2.0,
                 nvml: NVML | None = None):
        self.pids = pids
        self.sink = sink
        self.interval = 1.0 / hz
        self.nvml = nvml if nvml is not None else NVML()
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _proc(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # first call primes the counter
            except psutil.Error:
                return None
            self._procs[pid] = proc
        return proc

    def sample(self) -> dict[str, Any]:
        """One sample: time, system CPU, per-engine CPU%/RSS, GPUs."""
        engines: dict[str, Any] = {}
        for name, pid in self.pids().items():
            proc = self._proc(pid) if pid else None
            if proc is None:
                engines[name] = {"cpu_pct": None, "rss": None}
                continue
            try:
                engines[name] = {"cpu_pct": proc.cpu_percent(None), "rss": proc.memory_info().rss}
            except psutil.Error:
                engines[name] = {"cpu_pct": None, "rss": None}
        return {
            "t": round(time.perf_counter() - self.t0, 3),
            "cpu_pct": psutil.cpu_percent(None),
            "mem_used": psutil.virtual_memory().used,
            "engines": engines,
            "gpus": self.nvml.sample({k: v for k, v in self.pids().items()}),
        }

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sink(self.sample())
            except Exception:  # noqa: BLE001 - telemetry never stops a run
                continue
