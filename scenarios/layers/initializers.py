"""Numpy initialisers for the catalogue's weights, matching Keras's defaults in float32.

Each draws from the generator it is given, so a stack's weights depend only on the seed and
the order of the layers: keep the order of the draws when changing anything here, or every
scenario's initial weights (and the published parity figures) change.
"""

from __future__ import annotations

from ..lazy import np


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                   fan_out: int) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Keras's GlorotUniform)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A random (rows, cols) matrix with orthonormal rows or columns (Keras's Orthogonal)."""
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q[:rows, :cols].astype(np.float32)


def zeros(n: int) -> np.ndarray:
    """A float32 bias of n zeros (no draw)."""
    return np.zeros(n, np.float32)


def small_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform in +-0.05 (Keras's Embedding default, 'uniform')."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(np.float32)


def ones(n: int) -> np.ndarray:
    """A float32 scale of n ones (no draw)."""
    return np.ones(n, np.float32)
