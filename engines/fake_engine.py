"""A seeded fake engine: deterministic losses and simulated step times, for UI tests and demos.

Faults can be injected through RunSettings.faults, e.g. {"tensorflow": "nan@20"}:
``nan@K`` (NaN loss at step K), ``error@K`` (an exception), ``crash@K`` (the host process
exits abruptly; in-process, where that would end the whole program, an error saying so),
``hang@K`` (step K never returns: the stall watchdog's case), ``oom@K`` (a MemoryError),
``unavailable`` (framework missing), ``slow`` (each step really sleeps 20 ms, so runs last
long enough to cancel).
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

import numpy as np

from scenarios import Scenario

from .base import Engine, EngineFailure, EngineUnavailable
from .settings import RunSettings

# A hung fake step waits on this forever (in a child process, until it is killed). Tests set it
# to let a fake hung in one of their own threads (--in-process) return.
HANG_RELEASE = threading.Event()

_PROFILE = {  # name: (ms per step, first-step ms, import s, build s, loss offset)
    "pytorch": (2.0, 40.0, 3.5, 0.2, 0.0),
    "tensorflow": (3.0, 230.0, 4.7, 0.4, 1e-7),
}


class FakeEngine(Engine):
    """Imitates one framework with seeded numbers; never imports a framework."""

    simulated = True

    def __init__(self, imitates: str = "pytorch"):
        self.name = imitates
        self.profile = _PROFILE.get(imitates, _PROFILE["pytorch"])

    def load(self, settings: RunSettings) -> dict[str, str]:
        self.settings = settings
        self.fault = settings.faults.get(self.name, "")
        if self.fault == "unavailable":
            raise EngineUnavailable(f"{self.name} is not installed (simulated)")
        return {f"fake-{self.name}": "1.0", "numpy": np.__version__}

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        seed = settings.seed
        self.rng = np.random.default_rng([seed, 7, len(self.name)])
        shared = np.random.default_rng([seed, 11])
        n = settings.steps
        # Paired turns take the faster engine past the run's steps: make room for that (and
        # wrap past it onto steady steps, never back onto the first step's compile time).
        length = 4 * n + 8
        k = np.arange(length)
        # Both fakes share one curve (so parity holds) plus a tiny per-engine offset.
        base = 0.2 + 2.1 * np.exp(-k / max(10.0, n / 4)) \
            + 0.05 * shared.standard_normal(length) ** 2
        self.losses = base + self.profile[4]
        # Held-out figures (evaluate): a little above the training curve, with an accuracy that
        # rises as it falls; shared by both fakes, like the losses, so their parity holds.
        self.held_out_gap = 1.08 + 0.04 * shared.random()
        self.steps_done = 0
        ms = self.profile[0] * (1 + 0.05 * np.abs(self.rng.standard_normal(length)))
        ms[0] = self.profile[1]
        self.times = ms / 1000.0

    def _at(self, index: int) -> int:
        n = len(self.times)
        return index if index < n else 1 + (index - 1) % (n - 1)

    def simulated_stages(self) -> dict[str, float]:
        """Stage times to report in place of the (near-zero) real ones."""
        return {"import": self.profile[2], "build": self.profile[3]}

    def _fault_step(self, kind: str) -> int | None:
        if self.fault.startswith(kind + "@"):
            return int(self.fault.split("@", 1)[1])
        return None

    def step(self, index: int) -> float:
        if self.fault == "slow":
            time.sleep(0.02)
        if index == self._fault_step("nan"):
            return math.nan
        if index == self._fault_step("error"):
            raise EngineFailure(f"simulated framework error at step {index}")
        if index == self._fault_step("oom"):
            raise MemoryError("simulated allocation of 64 GiB failed")
        if index == self._fault_step("crash"):
            if self.settings.isolation == "thread":
                raise EngineFailure(f"simulated crash at step {index} (in-process: the program "
                                    f"is kept running)")
            os._exit(139)
        if index == self._fault_step("hang"):
            while not HANG_RELEASE.wait(0.05):
                pass
        self.steps_done = index + 1
        return float(self.losses[self._at(index)])

    def prepare_evaluation(self, scenario: Scenario, settings: RunSettings) -> None:
        self.eval_classified = scenario.train.loss == "cross_entropy"
        self.chance = 1.0 / (scenario.data.classes or 1)

    def evaluate(self) -> tuple[float, float | None]:
        """Seeded, plausible held-out figures after the steps done so far."""
        k = max(0, self.steps_done - 1)
        loss = float(self.losses[k % len(self.losses)]) * self.held_out_gap
        if not self.eval_classified:
            return loss, None
        # Chance level at the start loss, approaching 97 % as the loss falls to its floor.
        progress = min(1.0, max(0.0, (self.losses[0] - self.losses[k]) / self.losses[0]))
        return loss, self.chance + (0.97 - self.chance) * progress

    def simulated_time(self, index: int) -> float:
        simulated = float(self.times[self._at(index)])
        # A "slow" step really takes 20 ms: say so, or a turn of measured time would last
        # ten times its length in real time.
        return max(simulated, 0.02) if self.fault == "slow" else simulated

    def outputs(self, index: int = 0) -> Any:
        return np.linspace(-1, 1, 10, dtype=np.float32)[None, :]

    def config(self) -> dict[str, Any]:
        return {"mode": self.settings.mode, "device": self.settings.device, "dtype": "float32",
                "intra_op_threads": self.settings.threads, "inter_op_threads": 1,
                "onednn": False, "tf32": False, "xla": False, "simulated": True}

    def peak_memory_bytes(self) -> dict[str, int | None]:
        return {"host_peak_rss": 512 * 2**20 if self.name == "pytorch" else 768 * 2**20}
