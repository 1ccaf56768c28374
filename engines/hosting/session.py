"""Drives one Engine through its lifecycle stages; times every step with the same code for all."""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from typing import Any, Callable

from scenarios import Scenario

from ..base import Engine, EngineFailure, EngineUnavailable
from ..efficiency import CPU_SIDES, GPU_SIDES, LONG_ENOUGH_S, PeakCache, time_matmul_peak
from ..pipelines.feed import sweep_workers
from ..run.energy import EnergyMeter, energy_meter
from ..run.environment import _cpu_model
from ..settings import RunSettings
from .protocol import (
    EngineReport,
    Evaluation,
    Event,
    InputWaits,
    StageChanged,
    StepRecord,
    StepRecords,
)

Emit = Callable[[Event], None]

FLUSH_EVERY_S = 0.1


class EngineSession:
    """Owns one engine inside its host (child process or thread) and runs it step by step."""

    def __init__(self, engine: Engine, scenario: Scenario, settings: RunSettings,
                 warm_import_s: float | None = None):
        self.engine = engine
        self.scenario = scenario
        self.settings = settings
        # Seconds the framework import took when the host was pre-warmed (engines.warm);
        # None when load() imports it now.
        self.warm_import_s = warm_import_s
        self.next_step = 0
        # Seconds each lifecycle stage took: import, build, first_step, warmup (STAGE_TIMES).
        self.stages_s: dict[str, float] = {}
        self.versions: dict[str, str] = {}
        # Measurements made here, in the engine's process, outside the timed steps: the
        # matmul peak and the energy of the steady steps.
        self.peak: dict[str, Any] = {"flops_per_s": None, "source": None,
                                     "reason": "not measured yet"}
        self.probe_pending = False  # the peak is to be measured at the first turn's start
        self.energy = EnergyMeter(reason="not measured yet")
        # The input pipeline (native, naive): measured at the start of the first turn (the
        # loader alone, the sweep, the first batch), then the wait of every step.
        self.input_pending = False
        self.input: dict[str, Any] | None = None

    def prepare(self, emit: Emit) -> EngineReport:
        """Import and build, timing each; returns the engine's report (stages, versions, config).

        In a pre-warmed host the framework is already imported: the import stage is then the
        warm import's time plus load()'s own (thread and device settings), so it means the
        same with and without pre-warming.
        """
        emit(StageChanged("importing"))
        t0 = time.perf_counter()
        self.versions = self.engine.load(self.settings)
        self.stages_s["import"] = time.perf_counter() - t0 + (self.warm_import_s or 0.0)
        emit(StageChanged("building"))
        t0 = time.perf_counter()
        self.engine.build(self.scenario, self.settings)
        if self.eval_every:  # the held-out batches are materialised with the training ones
            self.engine.prepare_evaluation(self.scenario, self.settings)
        self.stages_s["build"] = time.perf_counter() - t0
        self.input_pending = getattr(self.engine, "feed", None) is not None
        if self.engine.simulated:
            self.stages_s.update(self.engine.simulated_stages())
        config = self.engine.config()
        self.energy = energy_meter(self.settings.device, config.get("gpu_index"),
                                   self.settings.schedule, simulated=self.engine.simulated)
        self.peak, self.probe_pending = self.known_peak()
        return self.report()

    def peak_identity(self) -> dict[str, Any]:
        """What the measured peak depends on: the machine, device, precision, thread count
        and framework version (the cache key)."""
        facts = getattr(self.engine, "peak_facts", dict)()
        return {"cpu": _cpu_model(), "threads": self.settings.threads,
                "device": self.settings.device, "precision": self.settings.precision,
                **facts}

    def known_peak(self) -> tuple[dict[str, Any], bool]:
        """The matmul peak as known before any step (cached on this machine, or why there is
        none), and whether the probe is to run at the start of the engine's first turn.

        Not measured here: while this engine builds, the other one may still be importing,
        and the probe would measure that load. In its first turn every other engine waits."""
        if self.engine.simulated or getattr(self.engine, "matmul_probe", None) is None:
            return {"flops_per_s": None, "source": None,
                    "reason": "simulated engine" if self.engine.simulated
                    else "this engine has no matmul probe"}, False
        folder, again = self.settings.peak_cache, self.settings.measure_peak
        if folder is None and not again:
            return {"flops_per_s": None, "source": None,
                    "reason": "not measured (no peak cache folder given; --measure-peak)"}, False
        if folder is not None and not again:
            hit = PeakCache(folder).get(self.peak_identity())
            if hit is not None:
                return {**hit, "source": "cached (measured earlier on this machine)"}, False
        return {"flops_per_s": None, "source": None,
                "reason": "measuring in the engine's first turn"}, True

    def measure_peak(self, emit: Emit) -> dict[str, Any]:
        """Run the matmul probe now and cache its peak (a contended one is not cached)."""
        emit(StageChanged("measuring peak"))
        folder, device = self.settings.peak_cache, self.settings.device
        cache = PeakCache(folder) if folder is not None else None
        contended = self.settings.schedule == "parallel"
        sides = GPU_SIDES if device == "cuda" else CPU_SIDES
        with cache.exclusive() if cache is not None else contextlib.nullcontext():
            try:
                result = time_matmul_peak(self.engine.matmul_probe, sides,
                                          long_enough_s=LONG_ENOUGH_S[device])
            except Exception as err:  # noqa: BLE001 - a failed probe must not end the run
                return {"flops_per_s": None, "source": None,
                        "reason": f"the matmul probe failed: {type(err).__name__}: {err}"[:200]}
            finally:
                getattr(self.engine, "after_matmul_probe", lambda: None)()
        if cache is not None and result.get("flops_per_s") and not contended:
            try:
                cache.put(self.peak_identity(), result)
            except OSError:
                pass  # measured all the same; the next run measures again
        # The probe's three matrices, held during the probe (part of a CPU's peak RSS).
        itemsize = 2 if self.settings.precision in ("bf16", "fp16") else 4
        return {**result, "measured_at": time.time(),
                "source": "measured now" + (" while the other engine ran (parallel schedule)"
                                            if contended else ""),
                "probe_bytes": 3 * result["matrix_side"] ** 2 * itemsize}

    def report(self) -> EngineReport:
        """Versions, stage times, configuration and memory so far.

        The session's own measurements (the peak, energy) travel in the config under "peak"
        and "energy"; the results document lifts them into each engine's `efficiency` and
        `energy` blocks."""
        config = self.engine.config()
        config["peak"] = dict(self.peak)
        config["energy"] = self.energy.to_dict(self.settings.batch_size)
        if self.input is not None:
            config["input"] = dict(self.input)
        return EngineReport(
            versions=self.versions,
            stages_s=dict(self.stages_s),
            prewarmed=self.warm_import_s is not None,
            config=config,
            memory=self.engine.peak_memory_bytes(),
        )

    @property
    def eval_every(self) -> int | None:
        """Steps between evaluations on the held-out batches; None: no evaluation (the
        scenario has none, or the task is inference, where the weights never change)."""
        every = self.scenario.train.eval_every
        return every if every and self.settings.task == "train" else None

    def _evaluation_due(self) -> bool:
        """True after every `eval_every` steps, and after the last step."""
        every, done = self.eval_every, self.next_step
        return bool(every) and (done % every == 0 or done == self.settings.steps)

    def _evaluate(self, emit: Emit) -> None:
        """Evaluate on the held-out batches now, as its own stage (not a step), and emit it."""
        emit(StageChanged("evaluating"))
        t0 = time.perf_counter()
        loss, accuracy = self.engine.evaluate()
        dt = time.perf_counter() - t0
        emit(Evaluation(self.next_step, float(loss),
                        None if accuracy is None else float(accuracy), dt))
        in_warmup = self.next_step <= self.settings.warmup_steps
        emit(StageChanged("warm-up" if in_warmup else "running"))

    def start_input(self, emit: Emit) -> None:
        """Measure the input pipeline before the first step, in the engine's first turn (the
        other engine waits): the loader alone at the run's workers (and, with
        --loader-sweep, at 0..K workers), then the training loader's first batch, reported
        as its own stage (worker start-up included)."""
        feed = self.engine.feed
        emit(StageChanged("loader alone"))
        alone = feed.benchmark(feed.workers)
        sweep = None
        if self.settings.loader_sweep:  # the native pipeline at 0..K workers
            sweep = []
            for workers in sweep_workers(feed.workers):
                emit(StageChanged(f"loader sweep: {workers} workers"))
                sweep.append(feed.benchmark(workers, naive=False).to_dict())
        emit(StageChanged("first batch"))
        first = feed.start()
        self.stages_s["first_batch"] = first
        self.input = {"pipeline": self.settings.input_pipeline, "first_batch_s": first,
                      "loader_samples_per_s": alone.samples_per_s,
                      "loader_first_batch_s": alone.first_batch_s,
                      "config": feed.describe(feed.workers, feed.naive)}
        if sweep is not None:
            self.input["sweep"] = sweep
        if self.next_step == 0:  # back to the first step's own stage
            emit(StageChanged("compiling"))

    def _phase_of(self, step: int, resumed: bool) -> str:
        if step == 0:
            return "first"
        if step <= self.settings.warmup_steps:
            return "warmup"
        return "resume" if resumed else "steady"

    def run(self, max_steps: int, slice_s: float, emit: Emit,
            should_stop: Callable[[], bool] = lambda: False, resumed: bool = False) -> bool:
        """One turn: run steps until they add up to `slice_s` seconds of measured step time, or
        until `max_steps` are done in total (at least one step).

        The turn's clock is the sum of the step times this session measured (simulated ones
        for the fake engine), so both engines' turns are of equal measured time whatever the
        cost of shipping records. `resumed`: the first step follows another engine's turn and
        is labelled 'resume'.

        Emits StepRecords at most every FLUSH_EVERY_S. Returns True once the run's
        `settings.steps` are done (paired turns may go on past them, up to `max_steps`).
        Raises EngineFailure on a non-finite loss or a classified framework error.
        """
        end = max_steps
        pending: list[StepRecord] = []
        waits: list[float] = []  # each pending step's wait for its input batch

        def send(records: list[StepRecord]) -> None:
            emit(StepRecords(tuple(records)))
            if waits:
                emit(InputWaits(tuple(waits)))
                waits.clear()
        if self.probe_pending:  # the engine's first turn: the others wait (not timed)
            self.probe_pending = False
            self.peak = self.measure_peak(emit)
        measured = 0.0
        last_flush = time.perf_counter()
        resumed = resumed and self.next_step > 0  # another engine stepped in between
        if self.next_step == 0:
            emit(StageChanged("compiling"))
        metering, metered = False, 0  # this turn's energy window, and the steps inside it
        try:
            if self.input_pending:  # the first turn: the loader is measured before step 0
                self.input_pending = False
                self.start_input(emit)
            while self.next_step < end and not should_stop():
                i = self.next_step
                # The energy window opens before the turn's first steady step (not the
                # first, warm-up or resume steps: their extra cost is not a step's) and
                # closes after the turn's last step, outside every timed step.
                if not metering and i > self.settings.warmup_steps and not resumed:
                    self.energy.begin()
                    metering = True
                t0 = time.perf_counter()
                loss = self.engine.step(i)
                dt = time.perf_counter() - t0
                if self.engine.simulated:
                    dt = self.engine.simulated_time(i)
                wait = self.engine.input_wait_s
                if wait is not None:
                    waits.append(wait)
                phase = self._phase_of(i, resumed)
                resumed = False
                record = StepRecord(i, phase, float(loss), dt)
                if not math.isfinite(loss):
                    pending.append(record)
                    send(pending)
                    pending = []
                    raise EngineFailure(
                        f"loss became {'NaN' if loss != loss else 'infinite'} at step {i} "
                        f"(try a lower learning rate)"
                    )
                pending.append(record)
                self.next_step = i + 1
                metered += metering
                if i == 0:
                    self.stages_s["first_step"] = dt
                    emit(StageChanged("warm-up" if self.settings.warmup_steps else "running"))
                elif i <= self.settings.warmup_steps:
                    self.stages_s["warmup"] = self.stages_s.get("warmup", 0.0) + dt
                    if i == self.settings.warmup_steps:
                        emit(StageChanged("running"))
                measured += dt
                if self._evaluation_due():
                    # Step records first, so every event arrives in the order it happened.
                    send(pending)
                    pending = []
                    # The evaluation's energy is not a step's: close the window (the next
                    # steady step opens a new one).
                    self.energy.end(metered)
                    metering, metered = False, 0
                    self._evaluate(emit)
                    # The evaluation ran through other data and code: like a step after
                    # another engine's turn, the next one is kept out of the statistics.
                    resumed = True
                now = time.perf_counter()
                if now - last_flush >= FLUSH_EVERY_S:
                    send(pending)
                    pending = []
                    last_flush = now
                if measured >= slice_s and self.next_step < end:
                    break
        except EngineFailure:
            raise
        except Exception as err:  # a framework error inside a step
            message = self.engine.classify_error(err)
            if pending:
                send(pending)
                pending = []
            if message:
                raise EngineFailure(message) from err
            raise EngineFailure(f"{type(err).__name__}: {err}") from err
        finally:
            self.energy.end(metered)
        if pending:
            send(pending)
        return self.next_step >= self.settings.steps


def describe_exception(err: BaseException) -> tuple[str, str]:
    """(status, message) for an exception raised by an engine: unavailable or failed."""
    if isinstance(err, EngineUnavailable):
        return "unavailable", str(err)
    if isinstance(err, EngineFailure):
        return "failed", str(err)
    if isinstance(err, MemoryError):
        return "failed", "out of memory (host)"
    tb = traceback.format_exception_only(type(err), err)[-1].strip()
    return "failed", tb
