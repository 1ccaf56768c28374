"""The framework-neutral side of an input pipeline: the loader's timing and its failures.

A framework module (torch_input, tf_input) opens a Loader at a number of workers; InputFeed
times it the same way for both engines: time to the first batch (worker start-up included),
the loader alone (samples/s, no model) before training, and, per training step, the seconds
the step waited for its batch.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..base import EngineFailure, first_line

#: The loader-only benchmark: at most this long after its first batch, and this many batches.
BENCH_S = 1.0
BENCH_BATCHES = 200
#: Workers the sweep goes up to when the run's are "auto".
SWEEP_AUTO_WORKERS = 2
#: A step waiting for its batch longer than this share of the step is input-bound.
INPUT_BOUND_SHARE = 0.10


class InputFailure(EngineFailure):
    """The input pipeline failed: an op raised, or a loader worker died."""


class Loader(Protocol):
    """One open iterator of a framework's pipeline."""

    def next(self) -> Any:
        """The next batch on the engine's device."""

    def close(self) -> None:
        """Stop the iterator and any worker it started."""


Opener = Callable[[Any, bool], Loader]  # (workers, naive) -> an open loader
_OP_IN_TEXT = re.compile(r"\[input\]\.preprocess\[\d+\] \([a-z_]+\)[^\n]*")


def op_failure(text: str) -> str | None:
    """The 'op N (name) failed ...' line an op's wrapper wrote into an error's text, or None."""
    found = _OP_IN_TEXT.findall(text)
    return found[-1].strip() if found else None


@dataclass
class LoaderRun:
    """One loader-only measurement: workers, first batch seconds, samples/s after it."""

    workers: Any
    first_batch_s: float
    samples_per_s: float | None
    batches: int

    def to_dict(self) -> dict[str, Any]:
        return {"workers": self.workers, "samples_per_s": self.samples_per_s,
                "first_batch_s": self.first_batch_s}


class InputFeed:
    """Drives one framework's pipeline for an engine: `open_loader(workers, naive)` gives a
    Loader; `describe(workers, naive)` the settings both sides report (workers, prefetch,
    AUTOTUNE, order); `explain(err)` turns the framework's error into a message, or None.
    `naive`: the run's pipeline is the untuned one (the sweep always measures the native
    one, at each worker count)."""

    def __init__(self, open_loader: Opener, workers: Any, batch_size: int,
                 describe: Callable[[Any, bool], dict[str, Any]],
                 explain: Callable[[BaseException], str | None], naive: bool = False):
        self.open_loader = open_loader
        self.naive = naive
        self.workers = workers
        self.batch_size = batch_size
        self.describe = describe
        self.explain = explain
        self.loader: Loader | None = None
        self.pending: Any = None  # the first batch, fetched by start()
        self.wait_s = 0.0

    def _fail(self, err: BaseException) -> InputFailure:
        message = self.explain(err) or op_failure(str(err))
        if message is None:
            message = f"{type(err).__name__}: {first_line(err)}"
        return InputFailure(f"input pipeline: {message}")

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (InputFailure, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - an op or a worker, described
            raise self._fail(err) from err

    def benchmark(self, workers: Any, max_s: float = BENCH_S,
                  max_batches: int = BENCH_BATCHES, naive: bool | None = None) -> LoaderRun:
        """The loader alone at `workers` (the run's pipeline, or the native one with
        naive=False): its first batch, then batches for up to `max_s`."""
        naive = self.naive if naive is None else naive
        t0 = time.perf_counter()
        loader = self._guard(lambda: self.open_loader(workers, naive))
        try:
            self._guard(loader.next)
            first = time.perf_counter() - t0
            t1, n = time.perf_counter(), 0
            while n < max_batches and time.perf_counter() - t1 < max_s:
                try:
                    self._guard(loader.next)
                except InputFailure as err:
                    if isinstance(err.__cause__, StopIteration):  # a short run's last batch
                        break
                    raise
                n += 1
            dt = time.perf_counter() - t1
        finally:
            loader.close()
        rate = n * self.batch_size / dt if n and dt > 0 else None
        return LoaderRun(workers, first, rate, n)

    def start(self) -> float:
        """Open the training loader and fetch its first batch; the seconds that took."""
        t0 = time.perf_counter()
        self.loader = self._guard(lambda: self.open_loader(self.workers, self.naive))
        self.pending = self._guard(self.loader.next)
        return time.perf_counter() - t0

    def next(self) -> Any:
        """The next training batch; `wait_s` is how long this call waited for it."""
        t0 = time.perf_counter()
        if self.loader is None:
            self.start()
        if self.pending is not None:
            batch, self.pending = self.pending, None
        else:
            batch = self._guard(self.loader.next)
        self.wait_s = time.perf_counter() - t0
        return batch

    def close(self) -> None:
        if self.loader is not None:
            self.loader.close()
            self.loader = None


def sweep_workers(workers: Any) -> list[int]:
    """The worker counts of --loader-sweep: 0..K (K = the run's workers; "auto": 2)."""
    top = SWEEP_AUTO_WORKERS if workers == "auto" else int(workers)
    return list(range(0, max(top, 0) + 1))


def auto_workers(cpu_count: int | None = None) -> int:
    """DataLoader workers for "auto": the cores left beside the engine's own, 1 to 4."""
    cores = cpu_count or os.cpu_count() or 1
    return max(1, min(4, cores - 1))


def wait_share(times: Any, waits: Any) -> float | None:
    """The share of the steps' time spent waiting for input (None without steps)."""
    total = float(sum(times))
    return float(sum(waits)) / total if total > 0 else None


def input_block(measured: dict[str, Any] | None, share: float | None,
                compute_s: float | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """An engine's `input` block in the export: what the session measured (first batch, the
    loader alone, its settings, the sweep), the steady steps' wait share with its verdict
    (input-bound above INPUT_BOUND_SHARE), and the step's own compute (median step less its
    wait) as samples/s beside the loader alone's: a loader slower than that cannot keep up,
    however well it overlaps."""
    measured = dict(measured or {})
    model_rate = batch_size / compute_s if compute_s and batch_size else None
    loader_rate = measured.get("loader_samples_per_s")
    return {
        "compute_median_s": compute_s,
        "model_samples_per_s": model_rate,
        "loader_keeps_up": None if model_rate is None or loader_rate is None
        else loader_rate >= model_rate,
        "first_batch_s": measured.get("first_batch_s"),
        "loader_samples_per_s": measured.get("loader_samples_per_s"),
        "loader_first_batch_s": measured.get("loader_first_batch_s"),
        "wait_share": share,
        "input_bound": None if share is None else share > INPUT_BOUND_SHARE,
        "config": measured.get("config"),
        **({"sweep": measured["sweep"]} if "sweep" in measured else {}),
    }
