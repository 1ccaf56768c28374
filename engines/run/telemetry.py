"""Hardware telemetry: CPU/memory per engine process (psutil) and GPUs (NVML), sampled.

A failing query yields None ("N/A"), never an exception: telemetry must not stop a run.
NVML is initialised once per process, in a background thread (`shared_nvml()`): nvmlInit can
take seconds on a machine without persistence mode, and must never hold up the UI.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import Any, Callable

import psutil

# Why an engine's GPU memory is not shown (short: the hardware panel prints them).
NOTE_SHARED = "shared process"  # --in-process: NVML sees one process for both engines
NOTE_NOT_LISTED = "PID not listed"  # containers with older drivers report host PIDs
NOTE_NO_LIST = "no process list"  # the driver refuses the per-process query
NOTE_NONE_LISTED = "no GPU process listed"
NOTE_ZERO = "reported 0"  # some drivers report 0 for processes they cannot measure
NOTE_NOT_REPORTED = "not reported"  # usedGpuMemory unavailable (e.g. Windows WDDM)


def _text(value: Any) -> Any:
    """NVML strings are bytes in older nvidia-ml-py releases, str in newer ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _no_gpu_reason(err: BaseException) -> str:
    name = type(err).__name__
    if "LibraryNotFound" in name:
        return "no NVIDIA GPU (driver not found)"
    if "DriverNotLoaded" in name:
        return "no NVIDIA GPU (driver not loaded)"
    return f"no NVIDIA GPU ({name})"


class NVML:
    """NVML wrapper: initialises the library once; every query degrades to None on error.

    `module` is the pynvml module (imported here when None; tests pass a fake). With
    `background=True` the constructor returns at once and nvmlInit runs in a thread: until
    `ready` is set, `available` is False and `reason` says NVML is still starting.
    """

    def __init__(self, module: Any = None, background: bool = False) -> None:
        self.available = False
        self.reason = "NVML starting"
        self.count = 0
        self.init_s: float | None = None  # how long nvmlInit took
        self.ready = threading.Event()
        self.nv: Any = module
        self._temperature_v: bool | None = None  # does nvmlDeviceGetTemperatureV work here?
        self._initialised = False  # nvmlInit succeeded: close() must shut it down
        self._closed = False
        if background:
            threading.Thread(target=self._init, name="nvml-init", daemon=True).start()
        else:
            self._init()

    def _init(self) -> None:
        t0 = time.perf_counter()
        try:
            if self.nv is None:
                import pynvml

                self.nv = pynvml
            self.nv.nvmlInit()
            self._initialised = True
            self.init_s = time.perf_counter() - t0
            count = int(self.nv.nvmlDeviceGetCount())
            if count <= 0:
                self.reason = "no NVIDIA GPU (NVML sees 0 devices)"
            else:
                self.count = count
                self.available = True
                self.reason = "ok"
        except ImportError:
            self.reason = "no NVIDIA GPU telemetry (nvidia-ml-py not installed)"
        except Exception as err:  # noqa: BLE001 - NVMLError_LibraryNotFound, driver errors
            self.reason = _no_gpu_reason(err)
        finally:
            if self.init_s is None:
                self.init_s = time.perf_counter() - t0
            self.ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until NVML has answered (initialised or failed); True when it has."""
        return self.ready.wait(timeout)

    def status(self) -> str:
        """'ok', why there is no GPU telemetry, or that NVML is still starting."""
        return self.reason if self.ready.is_set() else "NVML starting"

    def close(self) -> None:
        """nvmlShutdown, once, if nvmlInit succeeded (NVML counts its initialisations)."""
        if self._initialised and not self._closed:
            self._closed = True
            self.available = False
            self._q(self.nv.nvmlShutdown)

    def _q(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception:  # noqa: BLE001
            return None

    def system(self) -> dict[str, Any]:
        """Driver and CUDA driver versions, and how long nvmlInit took (empty without NVML)."""
        if not self.available:
            return {}
        nv = self.nv
        cuda = self._q(nv.nvmlSystemGetCudaDriverVersion)
        return {
            "driver_version": _text(self._q(nv.nvmlSystemGetDriverVersion)),
            "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}"
            if isinstance(cuda, int) else None,
            "nvml_init_s": round(self.init_s, 3) if self.init_s is not None else None,
        }

    def gpus(self) -> list[dict[str, Any]]:
        """Static description of each GPU."""
        if not self.available:
            return []
        nv = self.nv
        out = []
        for i in range(self.count):
            h = self._q(lambda: nv.nvmlDeviceGetHandleByIndex(i))
            mem = self._q(lambda: nv.nvmlDeviceGetMemoryInfo(h))
            pci = self._q(lambda: nv.nvmlDeviceGetPciInfo(h))
            persistence = self._q(lambda: nv.nvmlDeviceGetPersistenceMode(h))
            out.append({"index": i, "name": _text(self._q(lambda: nv.nvmlDeviceGetName(h))),
                        "memory_total": getattr(mem, "total", None),
                        "uuid": _text(self._q(lambda: nv.nvmlDeviceGetUUID(h))),
                        "pci_bus_id": _text(getattr(pci, "busId", None)),
                        "persistence_mode": None if persistence is None else bool(persistence)})
        return out

    def _temperature(self, h: Any) -> Any:
        """GPU temperature in °C: nvmlDeviceGetTemperatureV where the library and driver have
        it (nvmlDeviceGetTemperature is deprecated), else the old call."""
        nv = self.nv
        fn = getattr(nv, "nvmlDeviceGetTemperatureV", None)
        if fn is not None and self._temperature_v is not False:
            try:
                value = fn(h, nv.NVML_TEMPERATURE_GPU)
                self._temperature_v = True
                return getattr(value, "temperature", value)  # a struct in some releases
            except Exception:  # noqa: BLE001 - older driver: the symbol is missing
                if self._temperature_v:
                    return None  # it worked before: this is a failing reading, not a gap
                self._temperature_v = False
        return self._q(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))

    def sample(self, pids: dict[str, int | None]) -> list[dict[str, Any]]:
        """One reading per GPU: utilisation, memory, power, temperature, per-engine memory."""
        return self.read(pids)[0]

    def read(self, pids: dict[str, int | None]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """(one reading per GPU, why an engine has no GPU memory figure).

        Each reading's `engine_mem` holds NVML's figure for each engine process found on that
        GPU, None where it is unknown (0 counts as unknown; one process hosting both engines
        is not split); `processes` is how many compute processes NVML listed there (None when
        the query failed). The notes are engine_memory_notes().
        """
        if not self.available:
            return [], {}
        nv = self.nv
        shared = _shared_pids(pids)
        out = []
        listings: list[dict[Any, Any] | None] = []
        for i in range(self.count):
            h = self._q(lambda: nv.nvmlDeviceGetHandleByIndex(i))
            util = self._q(lambda: nv.nvmlDeviceGetUtilizationRates(h))
            mem = self._q(lambda: nv.nvmlDeviceGetMemoryInfo(h))
            power = self._q(lambda: nv.nvmlDeviceGetPowerUsage(h))
            temp = self._temperature(h)
            procs = self._q(lambda: list(nv.nvmlDeviceGetComputeRunningProcesses(h)))
            by_pid = None if procs is None else \
                {getattr(p, "pid", None): getattr(p, "usedGpuMemory", None) for p in procs}
            listings.append(by_pid)
            out.append({
                "index": i,
                "util_pct": getattr(util, "gpu", None),
                "mem_used": getattr(mem, "used", None),
                "mem_total": getattr(mem, "total", None),
                "power_w": power / 1000.0 if power is not None else None,
                "temp_c": temp,
                "engine_mem": {name: None if pid in shared else ((by_pid or {}).get(pid) or None)
                               for name, pid in pids.items() if pid},
                "processes": None if by_pid is None else len(by_pid),
            })
        return out, engine_memory_notes(listings, pids)


def replica_key(engine: str, rank: int) -> str:
    """The key of one replica's GPU memory in a GPU reading's engine_mem (rank 0: the
    engine's own name)."""
    return engine if rank == 0 else f"{engine}/r{rank}"


def _shared_pids(pids: dict[str, int | None]) -> set[int]:
    seen: set[int] = set()
    shared: set[int] = set()
    for pid in pids.values():
        if pid:
            (shared if pid in seen else seen).add(pid)
    return shared


def engine_memory_notes(listings: list[dict[Any, Any] | None],
                        pids: dict[str, int | None]) -> dict[str, str]:
    """Why an engine has no per-process GPU memory figure, by engine name (engines with one
    are left out).

    `listings` holds, per GPU, NVML's compute processes as {pid: used bytes or None}, or None
    where the query failed.
    """
    if not listings:
        return {}
    shared = _shared_pids(pids)
    queried = [lst for lst in listings if lst is not None]
    used = {pid: mem for lst in queried for pid, mem in lst.items()}
    notes = {}
    for name, pid in pids.items():
        if not pid:
            continue
        if pid in shared:
            notes[name] = NOTE_SHARED
        elif pid in used:
            if not used[pid]:
                notes[name] = NOTE_ZERO if used[pid] == 0 else NOTE_NOT_REPORTED
        elif not queried:
            notes[name] = NOTE_NO_LIST
        elif any(queried):
            notes[name] = NOTE_NOT_LISTED
        else:
            notes[name] = NOTE_NONE_LISTED
    return notes


def nvml_answered(nvml: Any) -> bool:
    """True once NVML has answered (an NVML-like stand-in without `ready` answered when it was
    made)."""
    ready = getattr(nvml, "ready", None)
    return ready is None or ready.is_set()


def nvml_facts(nvml: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """(status, GPUs, driver facts) of an NVML or NVML-like object, for the run's record."""
    status = nvml.status() if hasattr(nvml, "status") else \
        ("ok" if nvml.available else nvml.reason)
    system = nvml.system() if hasattr(nvml, "system") else {}
    return status, nvml.gpus(), system


_shared: NVML | None = None
_shared_lock = threading.Lock()


def shared_nvml() -> NVML:
    """This process's NVML, initialised once, in the background (first call starts it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = NVML(background=True)
            atexit.register(_shared.close)
        return _shared


class TelemetrySampler:
    """Background thread sampling CPU/RSS of each engine process and every GPU at `hz`.

    `on_nvml(status, gpus, driver facts)` is called once, from the sampler's thread, when NVML
    has answered (initialised or not), so a slow nvmlInit never holds up the caller. `nvml`
    may be an NVML-like stand-in offering available, reason, gpus() and sample().
    """

    def __init__(self, pids: Callable[[], dict[str, int | None]],
                 sink: Callable[[dict[str, Any]], None], hz: float = 2.0,
                 nvml: NVML | None = None,
                 on_nvml: Callable[[str, list, dict], None] | None = None,
                 replica_pids: Callable[[], dict[str, list[int]]] | None = None):
        self.pids = pids
        # Engines run as data-parallel replica groups: every replica's process, by engine.
        self.replica_pids = replica_pids
        self.sink = sink
        self.interval = 1.0 / hz
        self.nvml = nvml if nvml is not None else shared_nvml()
        self.on_nvml = on_nvml
        self._nvml_told = False
        self._told_lock = threading.Lock()
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._helpers: dict[int, bool] = {}  # child pid -> whether it is a helper, not a worker
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._tell_nvml(final=True)

    def _tell_nvml(self, final: bool = False) -> None:
        """Call on_nvml once NVML has answered; at the end (final) even if it has not."""
        if self.on_nvml is None or not (final or nvml_answered(self.nvml)):
            return
        with self._told_lock:
            if self._nvml_told:
                return
            self._nvml_told = True
        try:
            self.on_nvml(*nvml_facts(self.nvml))
        except Exception:  # noqa: BLE001 - telemetry never stops a run
            pass

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

    def _workers(self, proc: psutil.Process) -> dict[str, Any]:
        """The engine's own child processes (DataLoader workers): how many, their CPU % and
        resident memory together; {} when it has none (multiprocessing's resource tracker,
        a helper, is not one)."""
        cpu, rss, n = 0.0, 0, 0
        for child in proc.children(recursive=True):
            if child.pid not in self._helpers:
                try:
                    helper = "resource_tracker" in " ".join(child.cmdline())
                except psutil.Error:
                    continue
                self._helpers[child.pid] = helper
            if self._helpers[child.pid]:
                continue
            worker = self._proc(child.pid)
            if worker is None:
                continue
            try:
                cpu += worker.cpu_percent(None)
                rss += worker.memory_info().rss
                n += 1
            except psutil.Error:
                continue
        return {"workers": n, "workers_cpu_pct": cpu, "workers_rss": rss} if n else {}

    def sample(self) -> dict[str, Any]:
        """One sample: time, system CPU, per-engine CPU%/RSS, GPUs (and why an engine's GPU
        memory is unknown, under gpu_engine_notes)."""
        engines: dict[str, Any] = {}
        pids = self.pids()
        for name, pid in pids.items():
            proc = self._proc(pid) if pid else None
            if proc is None:
                engines[name] = {"cpu_pct": None, "rss": None}
                continue
            try:
                engines[name] = {"cpu_pct": proc.cpu_percent(None), "rss": proc.memory_info().rss}
                engines[name].update(self._workers(proc))
            except psutil.Error:
                engines[name] = {"cpu_pct": None, "rss": None}
        gpu_pids = dict(pids)
        if self.replica_pids is not None:
            for name, group in self.replica_pids().items():
                if name in engines:
                    engines[name] = self._group_sample(group)
                    # Each further replica's GPU memory, under "NAME/rRANK" (rank 0's is the
                    # engine's own figure).
                    gpu_pids.update({replica_key(name, r): pid
                                     for r, pid in enumerate(group) if r})
        gpus: list[dict[str, Any]] = []
        notes: dict[str, str] = {}
        if nvml_answered(self.nvml):
            read = getattr(self.nvml, "read", None)
            gpus, notes = read(gpu_pids) if read else (self.nvml.sample(gpu_pids), {})
            notes = {k: v for k, v in notes.items() if k in pids}
        sample = {
            "t": round(time.perf_counter() - self.t0, 3),
            "cpu_pct": psutil.cpu_percent(None),
            "mem_used": psutil.virtual_memory().used,
            "engines": engines,
            "gpus": gpus,
        }
        if notes:
            sample["gpu_engine_notes"] = notes
        return sample

    def _group_sample(self, pids: list[int]) -> dict[str, Any]:
        """CPU% and RSS of every replica of a group, and their sums as the engine's."""
        replicas = []
        for rank, pid in enumerate(pids):
            proc = self._proc(pid)
            try:
                cpu, rss = (proc.cpu_percent(None), proc.memory_info().rss) if proc else \
                    (None, None)
            except psutil.Error:
                cpu, rss = None, None
            replicas.append({"rank": rank, "pid": pid, "cpu_pct": cpu, "rss": rss})
        known = [r for r in replicas if r["rss"] is not None]
        return {"cpu_pct": sum(r["cpu_pct"] for r in known) if known else None,
                "rss": sum(r["rss"] for r in known) if known else None,
                "replicas": replicas}

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._tell_nvml()
            try:
                self.sink(self.sample())
            except Exception:  # noqa: BLE001 - telemetry never stops a run
                continue
