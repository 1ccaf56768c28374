"""The Engine interface and the errors engines report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from scenarios import Scenario

from .settings import RunSettings


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, or its type's name when the message is empty."""
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:limit]


class EngineUnavailable(RuntimeError):
    """The framework (or the device asked for) is not there: the engine cannot start."""


class EngineFailure(RuntimeError):
    """The engine started but failed: NaN loss, out of memory, a framework error."""


class Engine(ABC):
    """One framework's implementation of a scenario. Runs inside an engine host.

    The host's session calls load() once, then build(), then step(i) repeatedly; it does the
    timing itself so every engine is timed by the same code. A scenario with a held-out
    split and `eval_every` also gets prepare_evaluation() after build() and evaluate() every
    `eval_every` steps, timed apart from the steps.
    """

    name: str = ""
    #: True when step times are simulated rather than measured (the fake engine).
    simulated = False
    #: The input pipeline (engines.pipelines.feed.InputFeed) when batches are not materialised
    #: in memory; step() then takes its batch from it and sets `input_wait_s`, the seconds
    #: the step waited for that batch (None: no pipeline).
    feed: Any = None
    input_wait_s: float | None = None

    @abstractmethod
    def load(self, settings: RunSettings) -> dict[str, str]:
        """Import the framework and apply thread/device settings; return component versions."""

    @abstractmethod
    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        """Build the model, load the shared initial weights, materialise the batches."""

    @abstractmethod
    def step(self, index: int) -> float:
        """Run one train or infer step on batch `index`; return its loss, synchronised."""

    def next_batch(self, index: int) -> tuple[Any, Any]:
        """Step `index`'s batch (x, y): the input pipeline's next one (its wait recorded in
        `input_wait_s`), or the materialised batch `index` (cycling; `self.xs`, `self.ys`)."""
        if self.feed is not None:
            batch = self.feed.next()
            self.input_wait_s = self.feed.wait_s
            return batch
        n = len(self.xs)
        return self.xs[index % n], self.ys[index % n]

    def prepare_evaluation(self, scenario: Scenario, settings: RunSettings) -> None:
        """Materialise the held-out batches (scenarios.make_holdout) for evaluate(); called once
        after build() when the scenario evaluates ([train] eval_every)."""
        raise NotImplementedError(f"the {self.name} engine cannot evaluate")

    def evaluate(self) -> tuple[float, float | None]:
        """(mean loss, accuracy) over every held-out sample, forward only in inference mode
        (dropout off, batch norm on its running statistics), leaving the weights and the
        training mode as they were. Accuracy is None for a regression (mse) scenario."""
        raise NotImplementedError(f"the {self.name} engine cannot evaluate")

    def outputs(self, index: int = 0) -> Any:
        """The model's outputs (numpy) on batch `index`, for output parity; None if unsupported."""
        return None

    def config(self) -> dict[str, Any]:
        """What this engine did that affects speed: mode, threads, TF32/oneDNN/XLA, device."""
        return {}

    def peak_memory_bytes(self) -> dict[str, int | None]:
        """Peak host (RSS) and device memory so far, where known."""
        return {}

    def simulated_time(self, index: int) -> float:  # pragma: no cover - fake engine only
        """Step time to report instead of a measurement (simulated engines only)."""
        raise NotImplementedError

    def simulated_stages(self) -> dict[str, float]:  # pragma: no cover - fake engine only
        """Stage times (import, build) to report instead of the near-zero real ones (simulated
        engines only)."""
        raise NotImplementedError

    def classify_error(self, err: BaseException) -> str | None:
        """A clear one-line message for a known framework error (OOM), or None."""
        if isinstance(err, MemoryError):
            return "out of memory (host): " + (str(err) or "MemoryError")
        return None
