"""A small stand-in for the pynvml module, for telemetry tests on machines without a GPU.

It answers the calls engines/run/telemetry.py makes, with the same shapes as nvidia-ml-py:
names as bytes (older releases) or str, processes as objects with pid / usedGpuMemory, errors
as NVMLError subclasses named like pynvml's (the wrapper reads the class name).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


class NVMLError(Exception):
    """Base of the fake's errors, as pynvml.NVMLError."""


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - pynvml's own names
    pass


class NVMLError_DriverNotLoaded(NVMLError):  # noqa: N801
    pass


class NVMLError_GpuIsLost(NVMLError):  # noqa: N801
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    pass


class NVMLError_FunctionNotFound(NVMLError):  # noqa: N801
    pass


@dataclass
class FakeGPU:
    """One pretend GPU. processes: [(pid, used bytes or None)], or None: the query fails."""

    name: str = "NVIDIA Pretend 80GB"
    uuid: str = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
    bus_id: str = "00000000:3B:00.0"
    total: int = 80 * 2**30
    used: int = 5 * 2**30
    util: int = 87
    power_mw: int = 212_000
    temp: int = 64
    persistence: int = 1
    processes: list[tuple[int, int | None]] | None = field(default_factory=list)
    # Total energy since the driver loaded, in mJ; None: the GPU has no counter (pre-Volta).
    energy_mj: int | None = 5_000_000


class FakeNVML:
    """The pynvml calls telemetry makes. `temperature_v`: 'ok' (nvmlDeviceGetTemperatureV
    works), 'missing' (the library lacks it), 'no-symbol' (the driver lacks it)."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[FakeGPU] | None = None, *, init_error: Exception | None = None,
                 init_delay: float = 0.0, bytes_names: bool = False,
                 temperature_v: str = "ok") -> None:
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.init_delay = init_delay
        self.bytes_names = bytes_names
        self.temperature_v = temperature_v
        self.lost = False  # set mid-run: every device query then raises GpuIsLost
        self.calls: dict[str, int] = {}
        if temperature_v == "missing":
            self.nvmlDeviceGetTemperatureV = None  # type: ignore[assignment]

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _text(self, value: str) -> Any:
        return value.encode() if self.bytes_names else value

    def _gpu(self, handle: int) -> FakeGPU:
        if self.lost:
            raise NVMLError_GpuIsLost("GPU is lost")
        return self.gpus[handle]

    # -- library ----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if self.init_delay:
            time.sleep(self.init_delay)
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self._count("nvmlShutdown")

    def nvmlSystemGetDriverVersion(self) -> Any:
        return self._text("550.54.15")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    # -- devices ----------------------------------------------------------------------------
    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._gpu(index)
        return index

    def nvmlDeviceGetName(self, h: int) -> Any:
        return self._text(self._gpu(h).name)

    def nvmlDeviceGetUUID(self, h: int) -> Any:
        return self._text(self._gpu(h).uuid)

    def nvmlDeviceGetPciInfo(self, h: int) -> Any:
        return SimpleNamespace(busId=self._text(self._gpu(h).bus_id))

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:
        return self._gpu(h).persistence

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        g = self._gpu(h)
        return SimpleNamespace(total=g.total, used=g.used, free=g.total - g.used)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=self._gpu(h).util, memory=10)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._gpu(h).power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        g = self._gpu(h)
        if g.energy_mj is None:
            raise NVMLError_NotSupported("Not Supported")
        return g.energy_mj

    def nvmlDeviceGetTemperatureV(self, h: int, sensor: int) -> int:
        self._count("nvmlDeviceGetTemperatureV")
        if self.temperature_v == "no-symbol":
            raise NVMLError_FunctionNotFound("Function Not Found")
        return self._gpu(h).temp

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        self._count("nvmlDeviceGetTemperature")
        return self._gpu(h).temp

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        g = self._gpu(h)
        if g.processes is None:
            raise NVMLError_NotSupported("Not Supported")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in g.processes]
