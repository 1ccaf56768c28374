"""The [input] section: how training samples reach the model, and what is done to them.

`pipeline` chooses the path: "memory" (every batch materialised on the device before timing,
the default), "native" (each framework's own idiomatic input pipeline: tf.data with parallel
map and AUTOTUNE prefetch, torch DataLoader with worker processes) or "naive" (the same
pipelines with their parallelism and tuning switched off). `preprocess` is a per-sample list
of ops from OPS, applied in order.

Parity: the random parts of the ops (crop offsets, flips) are drawn here, once, in numpy from
the seed for every (epoch, sample) (`epoch_draws`); each framework's pipeline applies them
with its own ops, so every pipeline delivers the same batches. The numpy reference
(`reference_sample`) is what the memory pipeline materialises and what tests compare against.

Imports neither TensorFlow, PyTorch nor Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .datasets import DIGITS_MAX_PIXEL
from .fields import shown
from .lazy import np
from .spec import DataSpec

PIPELINES = ("memory", "native", "naive")
#: Documented maxima: DataLoader worker processes / tf.data map calls, and batches in flight.
MAX_LOADER_WORKERS = 64
MAX_PREFETCH = 1024
#: The random stream of the augmentation draws (data 0, weights 1, order 2, holdout 3).
DRAW_STREAM = 5


@dataclass(frozen=True)
class OpKind:
    """One preprocessing op of the catalogue: its fields and whether it needs an image."""

    name: str
    doc: str
    image_only: bool


OPS: dict[str, OpKind] = {
    "random_crop": OpKind("random_crop", "pad with `pad` zeros on each side, then crop `size` "
                          "[h, w] at an offset drawn per (epoch, sample)", True),
    "flip_left_right": OpKind("flip_left_right", "mirror the image left-right with "
                              "probability `probability` (default 0.5), drawn per (epoch, "
                              "sample)", True),
    "normalize": OpKind("normalize", "(x - mean) / std, per value", False),
}


@dataclass(frozen=True)
class PreprocessOp:
    """One op of [input].preprocess with its parameters (random_crop: size, pad;
    flip_left_right: probability; normalize: mean, std)."""

    op: str
    size: tuple[int, int] | None = None
    pad: int = 0
    probability: float = 0.5
    mean: float = 0.0
    std: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """As written in a scenario file (only the op's own fields)."""
        if self.op == "random_crop":
            return {"op": self.op, "size": list(self.size or ()), "pad": self.pad}
        if self.op == "flip_left_right":
            return {"op": self.op, "probability": self.probability}
        return {"op": self.op, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class InputSpec:
    """A scenario's [input] section. workers/prefetch: a count, or "auto" (DataLoader's own
    default / tf.data AUTOTUNE)."""

    pipeline: str = "memory"
    preprocess: tuple[PreprocessOp, ...] = ()
    workers: int | str = "auto"
    prefetch: int | str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """As exported with the scenario."""
        return {"pipeline": self.pipeline, "preprocess": [op.to_dict() for op in self.preprocess],
                "workers": self.workers, "prefetch": self.prefetch}

    def op(self, name: str) -> PreprocessOp | None:
        """The op called `name` (each appears at most once), or None."""
        return next((o for o in self.preprocess if o.op == name), None)


NO_INPUT = InputSpec()


# -- validation -------------------------------------------------------------------------------

Fail = Callable[[str, str], None]


def _count_or_auto(value: Any, low: int, high: int) -> int | str:
    """`value` when it is "auto" or an integer from `low` to `high`; ValueError otherwise."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"expected \"auto\" or an integer from {low} to {high}, got "
                         f"{shown(value)}")
    return value


def check_workers(value: Any) -> int | str:
    """A worker count 0..MAX_LOADER_WORKERS or "auto"; ValueError with the expectation otherwise."""
    return _count_or_auto(value, 0, MAX_LOADER_WORKERS)


def check_prefetch(value: Any) -> int | str:
    """Batches in flight 1..MAX_PREFETCH or "auto"; ValueError with the expectation otherwise."""
    return _count_or_auto(value, 1, MAX_PREFETCH)


def parse_op(raw: Any, where: str, data: DataSpec, fail: Fail) -> PreprocessOp:
    """One op table of [input].preprocess, checked against the data it will see."""
    if not isinstance(raw, dict):
        fail(where, f"expected an op table such as {{ op = \"normalize\", mean = 0.5, std = "
                    f"0.25 }}, got {type(raw).__name__}")
    name = raw.get("op")
    if not isinstance(name, str) or name not in OPS:
        fail(f"{where}.op", f"expected one of {' | '.join(OPS)}, got {shown(name)}")
    allowed = {"op", *{"random_crop": ("size", "pad"), "flip_left_right": ("probability",),
                       "normalize": ("mean", "std")}[name]}
    for key in raw:
        if key not in allowed:
            fail(f"{where}.{str(key)[:40]}", f"unknown field of a {name} op; expected one of: "
                                             f"{', '.join(sorted(allowed))}")
    image = data.kind != "tokens" and len(data.input_shape) == 3
    if OPS[name].image_only and not image:
        fail(f"{where}.op", f"{name} needs image data ([data].input_shape [H, W, C]), got "
                            f"{list(data.input_shape)!r}")
    if data.kind == "tokens":
        fail(f"{where}.op", "token ids are not preprocessed (no op applies to them)")

    def number(key: str, default: float, check: Callable[[float], bool], expect: str) -> float:
        value = raw.get(key, default)
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError, OverflowError):  # not a number; 400 digits
            number = math.nan
        if not isinstance(value, (int, float)) or not math.isfinite(number) \
                or not check(number):
            fail(f"{where}.{key}", f"expected {expect}, got {shown(value)}")
        return number

    if name == "random_crop":
        size, pad = raw.get("size"), raw.get("pad", 0)
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            fail(f"{where}.size", f"expected [height, width], two positive integers, got "
                                  f"{shown(size)}")
        if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad <= 1024:
            fail(f"{where}.pad", f"expected an integer from 0 to 1024, got {shown(pad)}")
        h, w = data.input_shape[0], data.input_shape[1]
        if size[0] > h + 2 * pad or size[1] > w + 2 * pad:
            fail(f"{where}.size", f"crop {size} is larger than the image ({h}x{w}, padded by "
                                  f"{pad} on each side: {h + 2 * pad}x{w + 2 * pad})")
        if (size[0], size[1]) != (h, w):
            fail(f"{where}.size", f"the model reads [data].input_shape {[h, w]}: crop to that "
                                  f"size (use pad to shift), got {size}")
        return PreprocessOp(name, size=(size[0], size[1]), pad=pad)
    if name == "flip_left_right":
        p = number("probability", 0.5, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1")
        return PreprocessOp(name, probability=p)
    mean = number("mean", 0.0, lambda v: abs(v) <= 1e6, "a number from -1e6 to 1e6")
    std = number("std", 1.0, lambda v: 1e-6 <= v <= 1e6, "a number from 1e-6 to 1e6")
    return PreprocessOp(name, mean=mean, std=std)


def parse_input(table: dict[str, Any], data: DataSpec, fail: Fail) -> InputSpec:
    """The [input] table, checked; `fail(field, message)` raises (the loader's, naming the
    file)."""
    allowed = {"pipeline", "preprocess", "workers", "prefetch"}
    for key in table:
        if key not in allowed:
            fail(f"[input].{str(key)[:40]}", f"unknown field in [input]; expected one of: "
                                             f"{', '.join(sorted(allowed))}")
    pipeline = table.get("pipeline", "memory")
    if pipeline not in PIPELINES:
        fail("[input].pipeline", f"expected one of {' | '.join(PIPELINES)}, got "
                                 f"{shown(pipeline)}")
    checked: dict[str, Any] = {}
    for key, check in (("workers", check_workers), ("prefetch", check_prefetch)):
        try:
            checked[key] = check(table.get(key, "auto"))
        except ValueError as err:
            fail(f"[input].{key}", str(err))
    raw_ops = table.get("preprocess", [])
    if not isinstance(raw_ops, list):
        fail("[input].preprocess", f"expected a list of op tables, got "
                                   f"{type(raw_ops).__name__}")
    ops: list[PreprocessOp] = []
    for i, raw in enumerate(raw_ops):
        op = parse_op(raw, f"[input].preprocess[{i}]", data, fail)
        if any(o.op == op.op for o in ops):
            fail(f"[input].preprocess[{i}].op", f"{op.op} appears twice; each op at most once")
        ops.append(op)
    return InputSpec(pipeline, tuple(ops), checked["workers"], checked["prefetch"])


# -- raw samples, order and draws --------------------------------------------------------------

@dataclass(frozen=True)
class RawSamples:
    """The training samples as they are stored on the host before preprocessing: digits as
    uint8 pixel counts (0..16, `scale` 16), everything else as make_dataset makes it
    (`scale` 1). `order`: the sample indices of one epoch in batch order (full batches only),
    the same every epoch."""

    x: np.ndarray
    y: np.ndarray
    order: np.ndarray
    scale: float
    batch_size: int

    @property
    def batches_per_epoch(self) -> int:
        return len(self.order) // self.batch_size


def raw_samples(data: DataSpec, batch_size: int, seed: int | None = None) -> RawSamples:
    """The raw training samples of `data` and their batch order (as make_batches cuts them)."""
    from .data import batch_order, make_dataset

    x, y = make_dataset(data, seed)
    scale = 1.0
    if data.kind == "digits":
        x = np.rint(x * DIGITS_MAX_PIXEL).astype(np.uint8)
        scale = float(DIGITS_MAX_PIXEL)
    order = batch_order(data, batch_size, seed).reshape(-1)
    return RawSamples(np.ascontiguousarray(x), np.ascontiguousarray(y), order, scale,
                      batch_size)


@dataclass(frozen=True)
class Draws:
    """The random choices of one epoch, per sample index: crop offsets (n, 2) (row, column)
    and flips (n,)."""

    offsets: np.ndarray
    flips: np.ndarray


def epoch_draws(spec: InputSpec, data: DataSpec, seed: int, epoch: int) -> Draws:
    """The crop offsets and flips of every sample in `epoch`, from the seed alone."""
    n = data.samples
    rng = np.random.default_rng([DRAW_STREAM, seed, epoch])
    offsets = np.zeros((n, 2), np.int64)
    crop = spec.op("random_crop")
    if crop is not None:
        h, w = data.input_shape[0], data.input_shape[1]
        offsets[:, 0] = rng.integers(0, h + 2 * crop.pad - crop.size[0] + 1, size=n)
        offsets[:, 1] = rng.integers(0, w + 2 * crop.pad - crop.size[1] + 1, size=n)
    flip = spec.op("flip_left_right")
    flips = rng.random(n) < flip.probability if flip is not None else np.zeros(n, bool)
    return Draws(offsets, flips)


def reference_sample(raw: np.ndarray, scale: float, spec: InputSpec, offset: np.ndarray,
                     flip: bool) -> np.ndarray:
    """One sample through the ops in numpy, float32 (channels last): the reference."""
    x = raw.astype(np.float32)
    if scale != 1.0:
        x = x / np.float32(scale)
    for op in spec.preprocess:
        if op.op == "random_crop":
            p = op.pad
            padded = np.pad(x, ((p, p), (p, p), (0, 0)))
            x = padded[offset[0]:offset[0] + op.size[0], offset[1]:offset[1] + op.size[1]]
        elif op.op == "flip_left_right":
            x = x[:, ::-1] if flip else x
        else:
            x = (x - np.float32(op.mean)) / np.float32(op.std)
    return np.ascontiguousarray(x, dtype=np.float32)


def reference_batch(samples: RawSamples, spec: InputSpec, data: DataSpec, seed: int,
                    index: int, draws: Draws | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Training batch `index` (counting across epochs) through the numpy reference."""
    n_batches, b = samples.batches_per_epoch, samples.batch_size
    epoch, k = divmod(index, n_batches)
    draws = draws or epoch_draws(spec, data, seed, epoch)
    idx = samples.order[k * b:(k + 1) * b]
    x = np.stack([reference_sample(samples.x[i], samples.scale, spec, draws.offsets[i],
                                   bool(draws.flips[i])) for i in idx])
    return x, samples.y[idx].copy()


def preprocessed_batches(data: DataSpec, spec: InputSpec, batch_size: int, steps: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The memory pipeline's batches for a scenario with preprocessing: every epoch `steps`
    reach (then they repeat), each through the numpy reference. (x, y) stacked by batch."""
    samples = raw_samples(data, batch_size, seed)
    n_batches = samples.batches_per_epoch
    epochs = max(1, math.ceil(steps / n_batches))
    xs, ys = [], []
    for e in range(epochs):
        draws = epoch_draws(spec, data, seed, e)
        for k in range(n_batches):
            x, y = reference_batch(samples, spec, data, seed, e * n_batches + k, draws)
            xs.append(x)
            ys.append(y)
    return np.stack(xs), np.stack(ys)


def memory_batches(scenario: Any, batch_size: int, seed: int, steps: int) -> Any:
    """The batches the memory pipeline materialises (scenarios.Batches): one epoch as always,
    or, with [input].preprocess, every epoch `steps` reach through the numpy reference."""
    from .data import Batches, make_batches

    spec = scenario.input
    if spec is None or not spec.preprocess:
        return make_batches(scenario.data, batch_size, seed)
    x, y = preprocessed_batches(scenario.data, spec, batch_size, steps, seed)
    return Batches(x, y)
