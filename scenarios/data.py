"""Deterministic data sets (synthetic, or a shipped real one), the held-out split, and the
batch order both engines consume."""

from __future__ import annotations

from dataclasses import dataclass

from .datasets import load_digits
from .lazy import np
from .spec import DataSpec
from .tokens import token_sequences


@dataclass(frozen=True)
class Batches:
    """One epoch of batches, materialised in numpy (channels last); step s uses batch s % len."""

    x: np.ndarray  # (n_batches, batch, *input_shape) float32 (token ids: int64)
    y: np.ndarray  # (n_batches, batch) int64 labels, (n_batches, batch, outputs) float32,
    #                or (n_batches, batch, seq_len) int64 next tokens

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def batch_size(self) -> int:
        return self.x.shape[1]


def _rng(seed: int, stream: int) -> np.random.Generator:
    # Independent streams for data, weights and batch order, all from one seed.
    return np.random.default_rng([stream, seed])


def _teacher(x: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    hidden = 64
    w1 = rng.standard_normal((flat.shape[1], hidden)) / np.sqrt(flat.shape[1])
    w2 = rng.standard_normal((hidden, width)) / np.sqrt(hidden)
    return np.tanh(flat @ w1) @ w2


def make_dataset(spec: DataSpec, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set (x float32 or token ids, y) for `spec`; identical for the same
    seed."""
    if spec.kind == "digits":
        return _digits(spec)
    rng = _rng(spec.seed if seed is None else seed, 0)
    if spec.kind == "tokens":
        return token_sequences(spec, rng, seed)
    n, shape = spec.samples, spec.input_shape
    if spec.kind in ("teacher", "regression"):
        x = rng.standard_normal((n, *shape))
        out = _teacher(x, spec.target_width, rng)
        if spec.kind == "teacher":
            return x.astype(np.float32), out.argmax(axis=1).astype(np.int64)
        out = (out - out.mean(axis=0)) / (out.std(axis=0) + 1e-8)
        return x.astype(np.float32), out.astype(np.float32)
    y = rng.integers(0, spec.classes, size=n)
    if spec.kind == "images":
        h, w, c = shape
        coarse = rng.standard_normal((spec.classes, max(1, h // 8), max(1, w // 8), c))
        # Smooth class patterns: nearest-neighbour upsampling of a coarse random grid.
        rows = (np.arange(h) * coarse.shape[1]) // h
        cols = (np.arange(w) * coarse.shape[2]) // w
        protos = coarse[:, rows][:, :, cols]
        x = protos[y] + spec.noise * rng.standard_normal((n, h, w, c))
    else:  # sequences
        t_len, feats = shape
        freqs = rng.uniform(0.5, 3.0, size=spec.classes)
        phases = rng.uniform(0, 2 * np.pi, size=(spec.classes, feats))
        t = np.arange(t_len)[None, :, None] / t_len
        x = np.sin(2 * np.pi * freqs[y][:, None, None] * t + phases[y][:, None, :])
        x = x + spec.noise * rng.standard_normal((n, t_len, feats))
    # Unit variance whatever the noise level, so the first loss and a sane learning rate do
    # not depend on it.
    x = x / (x.std() + 1e-8)
    return x.astype(np.float32), y.astype(np.int64)


def _digits(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """The first `samples` digits of the shipped file (pixels in [0, 1]), shaped as the
    scenario's input_shape: [8, 8, 1] or [64], both row by row."""
    images, labels = load_digits()
    n = spec.samples
    x = np.array(images[:n].reshape(n, *spec.input_shape), dtype=np.float32)
    return x, labels[:n].copy()


def split_indices(spec: DataSpec, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) sample indices, each in ascending order: a seeded random
    `holdout` fraction of the samples is held out (none when holdout is 0)."""
    n, held = spec.samples, spec.holdout_samples
    if not held:
        return np.arange(n), np.arange(0)
    picked = _rng(spec.seed if seed is None else seed, 3).permutation(n)
    return np.sort(picked[held:]), np.sort(picked[:held])


def batch_order(spec: DataSpec, batch_size: int, seed: int | None = None) -> np.ndarray:
    """The sample indices of one shuffled epoch of full batches, (n_batches, batch_size):
    the training samples in a seeded order, the remainder dropped."""
    train, _ = split_indices(spec, seed)
    # Without a held-out split `train` is every index in order, so this is the same
    # permutation of the whole data set as before the split existed.
    order = train[_rng(spec.seed if seed is None else seed, 2).permutation(len(train))]
    n_batches = len(order) // batch_size
    return order[: n_batches * batch_size].reshape(n_batches, batch_size)


def make_batches(spec: DataSpec, batch_size: int, seed: int | None = None) -> Batches:
    """One shuffled epoch of full batches of the training samples (the remainder is dropped)."""
    x, y = make_dataset(spec, seed)
    idx = batch_order(spec, batch_size, seed)
    return Batches(np.ascontiguousarray(x[idx]), np.ascontiguousarray(y[idx]))


def make_holdout(spec: DataSpec, batch_size: int,
                 seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every held-out sample, in chunks of `batch_size` (the last may be smaller), in a fixed
    order: the batches an evaluation runs on, the same for every engine. Empty without a
    held-out split."""
    _, held = split_indices(spec, seed)
    if not held.size:
        return []
    x, y = make_dataset(spec, seed)
    return [(np.ascontiguousarray(x[held[i:i + batch_size]]),
             np.ascontiguousarray(y[held[i:i + batch_size]]))
            for i in range(0, held.size, batch_size)]
