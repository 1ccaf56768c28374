"""Run settings: how one comparison runs, the same for every engine; and their defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scenarios import Scenario
from scenarios.input import PIPELINES, check_prefetch, check_workers
from scenarios.spec import MAX_BATCH_SIZE, MAX_STEPS

from .precision import PRECISIONS, device_refusal

TASKS = ("train", "infer")
MODES = ("eager", "compiled", "xla")
SCHEDULES = ("alternate", "sequential", "parallel")
ISOLATIONS = ("process", "thread")
DEVICES = ("cpu", "cuda")
# Data-parallel replicas (engines.distributed): what `batch_size` is when workers > 1.
SCALE_BATCH = ("global", "per-replica")
#: Data-parallel replicas per engine, at most (each is a process).
MAX_WORKERS = 64

#: Threads per engine, at most: beyond any machine this runs on, and far below what overflows
#: inside a framework (an int32 thread count).
MAX_THREADS = 256  # frameworks take an int32; far beyond any machine's cores per engine

# Step phases, as in the export: the first step (trace/compile), warm-up steps, steady steps,
# and "resume": the first step after the other engine had its turn (kept out of statistics).
PHASES = ("first", "warmup", "steady", "resume")


def default_threads(schedule: str = "alternate", cpu_count: int | None = None) -> int:
    """Threads per engine: leave the UI a core; split the rest when both run at once."""
    cores = cpu_count or os.cpu_count() or 1
    spare = max(1, cores - 1)
    return max(1, spare // 2) if schedule == "parallel" else spare


@dataclass(frozen=True)
class RunSettings:
    """How one comparison runs; the same settings go to every engine."""

    task: str = "train"
    steps: int = 100
    warmup_steps: int = 5
    batch_size: int = 32
    mode: str = "eager"
    schedule: str = "alternate"
    isolation: str = "process"
    device: str = "cpu"
    threads: int = 1
    # The dtype of the variables (weights, optimizer state): float32 in every precision mode.
    dtype: str = "float32"
    # What matmuls and convolutions compute in: fp32 | bf16 | fp16 | tf32 (engines.precision).
    precision: str = "fp32"
    seed: int = 0
    slice_s: float = 1.0  # length of one turn in the alternate schedule
    # --device cuda: the GPU both engines are pinned to. Its nvidia-smi (NVML) index; when
    # CUDA_VISIBLE_DEVICES is set, its position among the devices listed there.
    gpu: int = 0
    # cuDNN autotuning (convolution algorithm search), the same on both sides: TensorFlow
    # autotunes by default, torch.backends.cudnn.benchmark is off by default. On by default:
    # it is TensorFlow's out-of-the-box behaviour and the usual choice for fixed-shape
    # training (every batch here has the same shape); its cost lands in the first step,
    # which is reported apart from the steady state.
    cudnn_autotune: bool = True
    # The measured matmul peak (engines.efficiency): the folder it is cached in, per machine
    # (None: no cache, and no probe unless measure_peak), and whether to measure it again.
    peak_cache: str | None = None
    measure_peak: bool = False
    # Data-parallel replicas per engine (engines.distributed): 1 = one process, as always.
    # batch_size is the global batch, split into `workers` contiguous equal slices;
    # scale_batch records how it was chosen (global: fixed global batch, strong scaling;
    # per-replica: batch_size = per-replica batch x workers, weak scaling).
    workers: int = 1
    scale_batch: str = "global"
    # Fault injection for the fake engine only (tests and demos): {"pytorch": "nan@20"}.
    faults: dict[str, str] = field(default_factory=dict)
    # How training batches reach the model (scenarios.input): memory (materialised before
    # timing) | native (tf.data AUTOTUNE / DataLoader workers) | naive (both untuned); the
    # loader's workers and batches in flight (a count or "auto"), and whether to sweep the
    # loader alone over 0..workers before training (--loader-sweep).
    input_pipeline: str = "memory"
    loader_workers: int | str = "auto"
    loader_prefetch: int | str = "auto"
    loader_sweep: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings, as exported."""
        d = asdict(self)
        d.pop("faults")
        d.pop("peak_cache")  # a path on this machine, not a setting of the run
        d["input"] = {"pipeline": d.pop("input_pipeline"), "workers": d.pop("loader_workers"),
                      "prefetch": d.pop("loader_prefetch")}
        if d.pop("loader_sweep"):
            d["input"]["sweep"] = True
        return d

    @property
    def per_replica_batch(self) -> int:
        """Samples each data-parallel replica takes of every global batch."""
        return self.batch_size // self.workers

    def with_(self, **changes: Any) -> RunSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        checks = [
            ("task", self.task in TASKS, " | ".join(TASKS)),
            ("mode", self.mode in MODES, " | ".join(MODES)),
            ("schedule", self.schedule in SCHEDULES, " | ".join(SCHEDULES)),
            ("isolation", self.isolation in ISOLATIONS, " | ".join(ISOLATIONS)),
            ("device", self.device in DEVICES, " | ".join(DEVICES)),
            ("steps", _count(self.steps, MAX_STEPS), f"a positive integer up to {MAX_STEPS:,}"),
            ("batch_size", _count(self.batch_size, MAX_BATCH_SIZE),
             f"a positive integer up to {MAX_BATCH_SIZE:,}"),
            ("threads", _count(self.threads, MAX_THREADS),
             f"a positive integer up to {MAX_THREADS:,}"),
            ("warmup_steps", isinstance(self.warmup_steps, int) and self.warmup_steps >= 0,
             "an integer >= 0"),
            ("dtype", self.dtype == "float32", "float32"),
            ("precision", self.precision in PRECISIONS, " | ".join(PRECISIONS)),
            ("measure_peak", isinstance(self.measure_peak, bool), "true or false"),
            ("gpu", isinstance(self.gpu, int) and not isinstance(self.gpu, bool)
             and self.gpu >= 0, "a GPU index >= 0"),
            ("cudnn_autotune", isinstance(self.cudnn_autotune, bool), "true or false"),
            ("workers", _count(self.workers, MAX_WORKERS),
             f"a positive integer up to {MAX_WORKERS}"),
            ("scale_batch", self.scale_batch in SCALE_BATCH, " | ".join(SCALE_BATCH)),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name}: expected {expected}, got {getattr(self, name)!r}")
        for name, check in (("loader_workers", check_workers),
                            ("loader_prefetch", check_prefetch)):
            try:
                check(getattr(self, name))
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
        if self.input_pipeline not in PIPELINES:
            raise ValueError(f"input_pipeline: expected {' | '.join(PIPELINES)}, got "
                             f"{self.input_pipeline!r}")
        if self.loader_sweep and self.input_pipeline == "memory":
            raise ValueError("loader_sweep: the loader sweep measures an input pipeline; "
                             "choose --input native or naive")
        refusal = device_refusal(self.precision, self.device)
        if refusal:
            raise ValueError(f"precision: {refusal}")
        if self.workers > 1:
            from .distributed.rules import replica_refusal

            refusal = replica_refusal(self)
            if refusal:
                raise ValueError(refusal)
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps: expected fewer than the {self.steps} steps "
                             f"(the first step and warm-up leave no steady step to measure), "
                             f"got {self.warmup_steps}")


def _count(value: Any, maximum: int) -> bool:
    """Whether `value` is an integer from 1 to `maximum` (True is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= maximum


def settings_for(scenario: Scenario, **overrides: Any) -> RunSettings:
    """Settings that take steps and batch size from the scenario unless overridden."""
    values: dict[str, Any] = {
        "steps": scenario.train.steps,
        "batch_size": scenario.train.batch_size,
        "seed": scenario.data.seed,
        "threads": default_threads(overrides.get("schedule") or "alternate"),
    }
    spec = scenario.input
    if spec is not None:  # the scenario's [input] section, unless the line says otherwise
        values.update(input_pipeline=spec.pipeline, loader_workers=spec.workers,
                      loader_prefetch=spec.prefetch)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "warmup_steps" not in overrides or overrides["warmup_steps"] is None:
        values["warmup_steps"] = min(5, max(0, values["steps"] // 10))
    settings = RunSettings(**values)
    settings.validate()
    data = scenario.data
    if settings.batch_size > data.train_samples:
        held = f" ({data.holdout_samples} more are held out)" if data.holdout_samples else ""
        raise ValueError(f"batch_size: {settings.batch_size} exceeds the scenario's "
                         f"{data.train_samples} training samples{held}")
    return settings
