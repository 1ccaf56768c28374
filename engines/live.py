"""Live statistics for a running comparison, cheap enough for a UI timer.

Per-engine median/IQR/stability are recomputed on every call (O(steps), about a millisecond
for ten thousand steps); the bootstrap interval of the speed-up (tens to hundreds of ms) is
recomputed at most every `ci_every_s` seconds with a bounded sample, and reused meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .comparison import speedup
from .state import RunState
from .stats import Summary, outlier_mask, summarize


@dataclass(frozen=True)
class EngineLive:
    """One engine's steady-state figures so far (None until it has steady steps)."""

    name: str
    summary: Summary | None
    outliers: int

    @property
    def unstable(self) -> bool | None:
        return None if self.summary is None else self.summary.unstable


@dataclass
class LiveVerdict:
    engines: dict[str, EngineLive] = field(default_factory=dict)
    # comparison.speedup's dict (faster, slower, ratio, ci95, unstable, significant...) or None
    speedup: dict[str, Any] | None = None
    ci_age_s: float | None = None  # how old the interval is


class LiveStats:
    """Call `update(state)` from the UI timer; it returns a LiveVerdict."""

    def __init__(self, ci_every_s: float = 2.0, n_boot: int = 400, max_samples: int = 2000):
        self.ci_every_s = ci_every_s
        self.n_boot = n_boot
        self.max_samples = max_samples
        self._last_ci = -1e9
        self._speedup: dict[str, Any] | None = None
        self._version = -1

    def update(self, state: RunState, force: bool = False) -> LiveVerdict:
        with state.lock:
            times = {n: es.steady_times() for n, es in state.engines.items()}
            version = state.version
            seed = state.settings.seed
        verdict = LiveVerdict()
        for n, t in times.items():
            verdict.engines[n] = EngineLive(n, summarize(t), int(outlier_mask(t).sum()))
        now = time.monotonic()
        if len(times) == 2 and all(t.size for t in times.values()):
            due = force or now - self._last_ci >= self.ci_every_s
            if due and version != self._version:
                self._speedup = speedup(times, seed=seed, n_boot=self.n_boot,
                                        max_samples=self.max_samples)
                self._last_ci = now
                self._version = version
            verdict.speedup = self._speedup
            verdict.ci_age_s = now - self._last_ci if self._speedup else None
        return verdict


def steady_array(state: RunState, name: str) -> np.ndarray:
    """Steady-state step times of one engine (a copy), for charts."""
    with state.lock:
        return state.engines[name].steady_times()
