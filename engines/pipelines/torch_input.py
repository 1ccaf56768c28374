"""PyTorch's input pipeline: a torch Dataset whose __getitem__ preprocesses one sample with
torch ops, batched by a DataLoader with worker processes.

native: DataLoader(num_workers=K, prefetch_factor, persistent_workers, pin_memory on CUDA);
naive: num_workers=0 (every sample preprocessed in the training process, on demand).
Workers start with "spawn": the engine itself runs in a spawned child (or in the app's process
beside Textual's threads), where forking a process with threads is not safe.
"""

from __future__ import annotations

import math
import multiprocessing
from typing import Any

import numpy as np
import torch  # this module is imported only by the PyTorch engine, once torch is loaded

from scenarios import Scenario
from scenarios.input import Draws, InputSpec, PreprocessOp, RawSamples, epoch_draws, raw_samples

from ..settings import RunSettings
from .feed import InputFeed, auto_workers, first_line

#: The batches a training Dataset offers: beyond any run (paired turns may go on past the
#: run's steps), and still a length Python's len() accepts.
ENDLESS_BATCHES = 2**40


class InputOpError(RuntimeError):
    """A preprocessing op raised; the message names the op ([input].preprocess[i] (name))."""


def _random_crop(torch: Any, x: Any, op: PreprocessOp, offset: Any, flip: bool) -> Any:
    p = op.pad
    if p:  # pad H and W (the tensor is H, W, C): pairs from the last dimension backwards
        x = torch.nn.functional.pad(x, (0, 0, p, p, p, p))
    oy, ox = int(offset[0]), int(offset[1])
    return x[oy:oy + op.size[0], ox:ox + op.size[1]]


def _flip_left_right(torch: Any, x: Any, op: PreprocessOp, offset: Any, flip: bool) -> Any:
    return torch.flip(x, dims=(1,)) if flip else x


def _normalize(torch: Any, x: Any, op: PreprocessOp, offset: Any, flip: bool) -> Any:
    return (x - op.mean) / op.std


#: Each op of scenarios.input.OPS, in torch.
TORCH_OPS = {"random_crop": _random_crop, "flip_left_right": _flip_left_right,
             "normalize": _normalize}


class AugmentedSamples(torch.utils.data.Dataset):
    """A map-style torch Dataset over positions: position p is sample order[p % epoch] of
    epoch p // epoch, preprocessed with that epoch's draws (computed once per epoch, in each
    worker, from the seed). Images come out channels first (NCHW after collation)."""

    def __init__(self, samples: RawSamples, spec: InputSpec, scenario: Scenario, seed: int,
                 batches: int = ENDLESS_BATCHES):
        self.samples, self.spec, self.data, self.seed = samples, spec, scenario.data, seed
        self.per_epoch = samples.batches_per_epoch * samples.batch_size
        self.length = batches * samples.batch_size
        self.image = len(self.data.input_shape) == 3 and self.data.kind != "tokens"
        self.as_float = self.data.kind != "tokens"
        self._draws: tuple[int, Draws] | None = None

    def __len__(self) -> int:
        return self.length

    def draws(self, epoch: int) -> Draws:
        if self._draws is None or self._draws[0] != epoch:
            self._draws = (epoch, epoch_draws(self.spec, self.data, self.seed, epoch))
        return self._draws[1]

    def __getitem__(self, position: int) -> tuple[Any, Any]:
        epoch, j = divmod(int(position), self.per_epoch)
        s = int(self.samples.order[j])
        x = torch.from_numpy(self.samples.x[s])
        if self.as_float:
            x = x.to(torch.float32)
            if self.samples.scale != 1.0:
                x = x / self.samples.scale
        if self.spec.preprocess:
            d = self.draws(epoch)
            for i, op in enumerate(self.spec.preprocess):
                try:
                    x = TORCH_OPS[op.op](torch, x, op, d.offsets[s], bool(d.flips[s]))
                except Exception as err:
                    raise InputOpError(f"[input].preprocess[{i}] ({op.op}) failed on sample "
                                       f"{s}: {type(err).__name__}: {first_line(err)}") from err
        if self.image:
            x = x.permute(2, 0, 1).contiguous()
        return x, torch.from_numpy(np.asarray(self.samples.y[s]))


class _DataLoaderIter:
    """One iterator of a DataLoader, moving its batches to the device."""

    def __init__(self, loader: Any, device: Any):
        self.device = device
        self.it = iter(loader)

    def next(self) -> Any:
        x, y = next(self.it)
        if self.device.type != "cpu":
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
        return x, y

    def worker_pids(self) -> list[int]:
        return [w.pid for w in getattr(self.it, "_workers", [])]

    def close(self) -> None:
        shutdown = getattr(self.it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self.it = None


def allow_worker_processes() -> None:
    """Let this process start DataLoader workers. The engine's child process is daemonic
    (it must never outlive the app), and multiprocessing refuses children to a daemonic
    process; its workers are ended with it all the same (daemonic themselves, the host kills
    the engine's descendants with it, and each worker exits once its parent is gone)."""
    process = multiprocessing.current_process()
    if process.daemon:
        process._config["daemon"] = False  # noqa: SLF001 - no public switch for this


def loader_settings(settings: RunSettings, workers: Any, naive: bool) -> dict[str, Any]:
    """The DataLoader arguments for `workers` (naive: none) and the run's prefetch."""
    k = 0 if naive else (auto_workers() if workers == "auto" else int(workers))
    prefetch = settings.loader_prefetch
    factor = None
    if k:  # batches in flight are workers x prefetch_factor
        factor = 2 if prefetch == "auto" else max(1, math.ceil(int(prefetch) / k))
    return {"num_workers": k, "prefetch_factor": factor, "persistent_workers": k > 0,
            "pin_memory": settings.device == "cuda"}


def torch_feed(scenario: Scenario, settings: RunSettings, device: Any) -> InputFeed:
    """The PyTorch engine's input feed for this run (native or naive)."""
    spec = scenario.input or InputSpec()
    samples = raw_samples(scenario.data, settings.batch_size, settings.seed)
    dataset = AugmentedSamples(samples, spec, scenario, settings.seed)

    def open_loader(workers: Any, naive: bool) -> _DataLoaderIter:
        args = loader_settings(settings, workers, naive)
        context = None
        if args["num_workers"]:
            context = multiprocessing.get_context("spawn")
            allow_worker_processes()
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=settings.batch_size, shuffle=False, drop_last=True,
            multiprocessing_context=context, **args)
        return _DataLoaderIter(loader, device)

    def describe(workers: Any, naive: bool) -> dict[str, Any]:
        args = loader_settings(settings, workers, naive)
        k = args["num_workers"]
        return {"library": "torch.utils.data.DataLoader", "workers": k,
                "worker_kind": "processes (spawn)" if k else "none (in the training process)",
                "prefetch": k * args["prefetch_factor"] if k else 0,
                "prefetch_factor": args["prefetch_factor"],
                "persistent_workers": args["persistent_workers"],
                "pin_memory": args["pin_memory"], "autotune": False, "deterministic": True}

    def explain(err: BaseException) -> str | None:
        text = str(err)
        if "DataLoader worker" in text and ("exited unexpectedly" in text
                                            or "killed by signal" in text):
            return f"a DataLoader worker process died: {first_line(err)}"
        if isinstance(err, (ConnectionError, EOFError)):
            # A worker killed while it was handing over a batch (its shared-memory handle).
            return (f"a DataLoader worker process died (the connection to it broke: "
                    f"{type(err).__name__}: {first_line(err)})")
        return None

    return InputFeed(open_loader, settings.loader_workers, settings.batch_size, describe,
                     explain, naive=settings.input_pipeline == "naive")
