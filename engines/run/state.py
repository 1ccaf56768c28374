"""Live state of one comparison run: what each engine has done so far. Thread-safe."""

from __future__ import annotations

import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from scenarios import Scenario

from ..hosting.protocol import EngineReport, Evaluation, StepRecord
from ..pairing import turn_medians
from ..registry import engine_label
from ..settings import PHASES, RunSettings

PHASE_CODE = {name: i for i, name in enumerate(PHASES)}
FINAL_STATUSES = ("done", "failed", "cancelled", "unavailable")


@dataclass
class EngineState:
    """One engine's progress: status, lifecycle stage, error, its report and every step so far.

    `stage` is where the engine is in its lifecycle (waiting, starting, importing, building,
    compiling, warm-up, running, then its final status); each step's own phase (first, warmup,
    steady, resume) is in `phase_codes`."""

    name: str
    impl: str
    status: str = "pending"  # pending | running | done | failed | cancelled | unavailable
    stage: str = "waiting"
    error: str | None = None
    pid: int | None = None
    report: EngineReport = field(default_factory=EngineReport)
    losses: array = field(default_factory=lambda: array("d"))
    times: array = field(default_factory=lambda: array("d"))
    wall: array = field(default_factory=lambda: array("d"))  # seconds since the run started
    phase_codes: array = field(default_factory=lambda: array("b"))
    # Each step's turn: the k-th turn of this engine (paired with the other's k-th turn).
    turns: array = field(default_factory=lambda: array("q"))
    started_at: float | None = None
    ended_at: float | None = None
    # The model's outputs on one batch (numpy), fetched at the end for output parity.
    outputs: Any = None
    # Every evaluation on the held-out batches so far, in order ([train] eval_every).
    evaluations: list[Evaluation] = field(default_factory=list)
    # Seconds each step waited for its input batch (input pipelines only; empty in memory).
    input_waits: array = field(default_factory=lambda: array("d"))

    @property
    def label(self) -> str:
        """Display name, e.g. 'PyTorch'."""
        return engine_label(self.name)

    @property
    def steps_done(self) -> int:
        return len(self.losses)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def steady_times(self) -> np.ndarray:
        """Step times of steady-state steps only (not first, warm-up or resume steps)."""
        codes = np.frombuffer(self.phase_codes, dtype=np.int8) if len(self.phase_codes) else \
            np.zeros(0, np.int8)
        times = np.frombuffer(self.times, dtype=np.float64) if len(self.times) else np.zeros(0)
        return times[codes == PHASE_CODE["steady"]].copy()

    def input_wait_share(self) -> float | None:
        """The share of steady step time spent waiting for input (None: no pipeline, or no
        steady step yet)."""
        n = min(len(self.input_waits), len(self.times))
        if not n:
            return None
        codes = np.frombuffer(self.phase_codes, dtype=np.int8)[:n]
        steady = codes == PHASE_CODE["steady"]
        times = np.frombuffer(self.times, dtype=np.float64)[:n][steady]
        waits = np.frombuffer(self.input_waits, dtype=np.float64)[:n][steady]
        total = float(times.sum())
        return float(waits.sum()) / total if total > 0 else None

    def input_compute_median(self) -> float | None:
        """The median steady step time less its wait for input: the step's own compute
        (None: no pipeline, or no steady step yet)."""
        n = min(len(self.input_waits), len(self.times))
        if not n:
            return None
        steady = np.frombuffer(self.phase_codes, dtype=np.int8)[:n] == PHASE_CODE["steady"]
        if not steady.any():
            return None
        compute = (np.frombuffer(self.times, dtype=np.float64)[:n]
                   - np.frombuffer(self.input_waits, dtype=np.float64)[:n])[steady]
        return float(np.median(compute))

    def turn_medians(self) -> dict[int, float]:
        """Median steady step time of each turn (engines.pairing.turn_medians)."""
        if not len(self.times):
            return {}
        codes = np.frombuffer(self.phase_codes, dtype=np.int8)
        return turn_medians(np.frombuffer(self.times, dtype=np.float64),
                            codes == PHASE_CODE["steady"], np.frombuffer(self.turns, np.int64))


@dataclass
class UntilConfident:
    """--until-confident: the run ends once the speed-up's 95 % interval is within +-`pct` %
    with at least `min_pairs` turn pairs, or after `max_steps`; when (seconds of measuring:
    both engines' step times added up) and after how many pairs it first was."""

    pct: float
    min_pairs: int
    max_steps: int
    confident_after_s: float | None = None
    pairs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """As exported under comparison.speedup.until_confident."""
        return {"pct": self.pct, "min_pairs": self.min_pairs, "max_steps": self.max_steps,
                "confident_after_s": self.confident_after_s, "pairs": self.pairs}


class RunState:
    """Everything a run has produced; workers write, the UI/CLI read under `lock`."""

    def __init__(self, scenario: Scenario, settings: RunSettings, engines: dict[str, str]):
        self.scenario = scenario
        self.settings = settings
        self.lock = threading.Lock()
        self.engines = {name: EngineState(name, impl) for name, impl in engines.items()}
        self.t0 = time.perf_counter()
        self.started_wall = time.time()
        self.version = 0  # bumped on every change, so readers know when to redraw
        self.telemetry: list[dict[str, Any]] = []
        self.environment: dict[str, Any] = {}
        # The order the engines start in (the first takes the first turn); empty: as listed.
        self.order: list[str] = []
        # "ok", or why there is no GPU telemetry; None when telemetry is off.
        self.gpu_status: str | None = None
        self.until_confident: UntilConfident | None = None  # set for --until-confident

    def _touch(self) -> None:
        self.version += 1

    def set_stage(self, name: str, stage: str) -> None:
        """An engine entered a lifecycle stage (the first one marks it running)."""
        with self.lock:
            es = self.engines[name]
            es.stage = stage
            if es.status == "pending":
                es.status = "running"
                es.started_at = time.perf_counter() - self.t0
            self._touch()

    def add_records(self, name: str, records: Sequence[StepRecord], turn: int = 0) -> None:
        """Append an engine's step records (of its turn number `turn`); steps arrive in
        order."""
        now = time.perf_counter() - self.t0
        with self.lock:
            es = self.engines[name]
            n_new = len(records)
            # Wall time of each step: spread the batch back from now by its step times.
            total = sum(r.time_s for r in records)
            t = now - total
            for _step, phase, loss, dt in records:
                t += dt
                es.losses.append(loss)
                es.times.append(dt)
                es.wall.append(t)
                es.phase_codes.append(PHASE_CODE.get(phase, 0))
                es.turns.append(turn)
            if n_new:
                self._touch()

    def add_evaluation(self, name: str, evaluation: Evaluation) -> None:
        """An engine's evaluation on the held-out batches (after its step records)."""
        with self.lock:
            self.engines[name].evaluations.append(evaluation)
            self._touch()

    def add_input_waits(self, name: str, waits: Sequence[float]) -> None:
        """Seconds the steps just added waited for their input batches, in order."""
        with self.lock:
            self.engines[name].input_waits.extend(waits)
            self._touch()

    def set_report(self, name: str, report: EngineReport) -> None:
        """An engine's report (after it was built, and again at its end)."""
        with self.lock:
            self.engines[name].report = report
            self._touch()

    def set_outputs(self, name: str, outputs: Any) -> None:
        with self.lock:
            self.engines[name].outputs = outputs
            self._touch()

    def set_pid(self, name: str, pid: int | None) -> None:
        with self.lock:
            self.engines[name].pid = pid

    def finish(self, name: str, status: str, error: str | None = None) -> None:
        """Mark an engine as ended with `status` (done, failed, cancelled, unavailable)."""
        with self.lock:
            es = self.engines[name]
            es.status = status
            es.error = error
            es.stage = status
            es.ended_at = time.perf_counter() - self.t0
            self._touch()

    def add_telemetry(self, sample: dict[str, Any]) -> None:
        with self.lock:
            self.telemetry.append(sample)
            self._touch()

    @property
    def finished(self) -> bool:
        return all(es.finished for es in self.engines.values())

    def exit_code(self) -> int:
        """0 when every engine finished its steps, 1 otherwise."""
        return 0 if all(es.status == "done" for es in self.engines.values()) else 1
