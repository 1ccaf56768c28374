"""The wire protocol between a worker thread and the engine host it drives.

Everything that crosses the pipe to an engine's child process (or the call into a thread host)
is one of these types: a request goes to the host; while the host works on it, events come
back (the engine's lifecycle stage changed, a batch of step records, an evaluation on the
held-out batches); then exactly one reply (Ok with the request's answer, or Error with a
status and a message).

The payloads are plain data too: StepRecord (one timed step) and EngineReport (versions, stage
times, configuration, memory). They unpickle without a framework in the receiving process.

Step records are the one frequent message (a batch about every 0.1 s). A NamedTuple pickles
through a Python-level reduce per record, about 13x slower than a plain tuple, so StepRecords
sends its batch as plain rows and rebuilds the records on arrival (see its __reduce__).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Union

from scenarios import Scenario

from ..settings import RunSettings

# -- payloads ----------------------------------------------------------------------------------


class StepRecord(NamedTuple):
    """One timed step: its index, its phase (first | warmup | steady | resume), the loss
    (synchronised to the host) and the step's time in seconds."""

    step: int
    phase: str
    loss: float
    time_s: float


# The stage times an engine reports, under the export's key names (seconds; None until known):
# the framework import, building the model, the first step (trace/compile), the warm-up steps.
STAGE_TIMES = ("import", "build", "first_step", "warmup")


@dataclass(frozen=True, slots=True)
class EngineReport:
    """What an engine reports about itself: component versions, the time each lifecycle stage
    took, whether its framework was imported in a pre-warmed process, and the engine's own
    free-form facts (configuration that affects speed, peak memory) exported as they are."""

    versions: dict[str, str] = field(default_factory=dict)
    stages_s: dict[str, float] = field(default_factory=dict)
    prewarmed: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, int | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report's part of an engine's block in the results document (schema 1).

        The stage times keep their export key "phases_s"; `prewarmed` is shown on the dashboard
        but not exported (as before the typed report)."""
        stages: dict[str, float | None] = {k: None for k in STAGE_TIMES}
        stages.update(self.stages_s)
        return {"phases_s": stages, "versions": self.versions, "config": self.config,
                "memory": self.memory}


@dataclass(frozen=True, slots=True)
class WarmImport:
    """The answer to Warm: how long the framework import took (None when it failed, and why)."""

    import_s: float | None
    error: str | None = None


# -- requests (worker thread -> host) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Warm:
    """Import the framework now, before the run is known (a pre-warmed host). -> WarmImport"""


@dataclass(frozen=True, slots=True)
class Prepare:
    """Make the engine, import its framework and build the model. -> EngineReport"""

    scenario: Scenario
    settings: RunSettings


@dataclass(frozen=True, slots=True)
class RunSlice:
    """Run steps for about `slice_s` seconds, up to `max_steps` in total. -> bool (all done)

    `resumed`: another engine stepped since this one's last slice (its first step is then
    labelled 'resume')."""

    max_steps: int
    slice_s: float
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class GetReport:
    """Versions, stage times, configuration and peak memory so far. -> EngineReport"""


@dataclass(frozen=True, slots=True)
class GetOutputs:
    """The model's outputs (numpy) on batch `index`, for output parity. -> array or None"""

    index: int = 0


@dataclass(frozen=True, slots=True)
class Stop:
    """End the child process (no reply)."""


Request = Union[Warm, Prepare, RunSlice, GetReport, GetOutputs, Stop]

# -- events (host -> worker thread, while a request is carried out) ----------------------------


@dataclass(frozen=True, slots=True)
class StageChanged:
    """The engine entered a lifecycle stage: importing, building, compiling (its first step),
    warm-up or running. (The worker thread itself sets 'starting' and, at the end, the final
    status.)"""

    stage: str


_make_record = partial(tuple.__new__, StepRecord)  # a row back into a StepRecord, in C


def _records_from_rows(rows: list[tuple]) -> StepRecords:
    return StepRecords(tuple(map(_make_record, rows)))


@dataclass(frozen=True, slots=True)
class StepRecords:
    """Steps done since the last batch, in order."""

    records: tuple[StepRecord, ...]

    def __reduce__(self) -> tuple:
        # Plain rows on the wire: pickling each NamedTuple would cost ~0.5 us a record.
        return (_records_from_rows, (list(map(tuple, self.records)),))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The engine evaluated on the held-out batches after `step` training steps: the mean
    loss, the accuracy (None for regression) and the seconds it took. It is not a step: its
    time is kept out of the step times, and the step after it is labelled 'resume'."""

    step: int
    loss: float
    accuracy: float | None
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        """Its entry in the engine's `evaluations` in the results document (schema 1)."""
        return {"step": self.step, "loss": self.loss, "accuracy": self.accuracy,
                "time_s": self.time_s}


@dataclass(frozen=True, slots=True)
class InputWaits:
    """Seconds each step of the StepRecords just sent waited for its input batch (input
    pipelines native and naive only; part of the step's time)."""

    waits: tuple[float, ...]


# A replica group (engines.distributed) also sends EngineReport: its per-replica figures so far.
Event = Union[StageChanged, StepRecords, Evaluation, InputWaits, EngineReport]

# -- replies (host -> worker thread, one per request) ------------------------------------------


@dataclass(frozen=True, slots=True)
class Ok:
    """The request was carried out; `value` is its answer."""

    value: Any = None


@dataclass(frozen=True, slots=True)
class Error:
    """The request failed: `status` is 'failed' or 'unavailable', `message` says why."""

    status: str
    message: str


Reply = Union[Ok, Error]
