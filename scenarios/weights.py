"""Initial weights generated once in numpy, in Keras layout; engines transplant them."""

from __future__ import annotations

import numpy as np

from .shapes import infer_stack
from .spec import Scenario


def _glorot(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q[:rows, :cols].astype(np.float32)


def initial_weights(scenario: Scenario, seed: int | None = None) -> list[list[np.ndarray]]:
    """Per layer, its arrays in Keras order and layout.

    dense: [kernel (in, out), bias]; conv2d: [kernel HWIO, bias];
    lstm: [kernel (F, 4u), recurrent (u, 4u), bias (4u)] with gates i, f, c, o and the
    forget-gate bias set to 1 in the data itself (so neither framework adds it);
    other layers: [].
    """
    rng = np.random.default_rng([1, scenario.data.seed if seed is None else seed])
    out: list[list[np.ndarray]] = []
    for info in infer_stack(scenario.layers, scenario.data.input_shape):
        layer = info.layer
        if layer.type == "dense":
            n_in, n_out = info.input_shape[0], layer.units
            out.append([_glorot(rng, (n_in, n_out), n_in, n_out),
                        np.zeros(n_out, np.float32)])
        elif layer.type == "conv2d":
            k, c, f = layer.kernel_size, info.input_shape[2], layer.filters
            out.append([_glorot(rng, (k, k, c, f), k * k * c, k * k * f),
                        np.zeros(f, np.float32)])
        elif layer.type == "lstm":
            feats, u = info.input_shape[1], layer.units
            kernel = _glorot(rng, (feats, 4 * u), feats, 4 * u)
            recurrent = np.concatenate([_orthogonal(rng, u, u) for _ in range(4)], axis=1)
            bias = np.zeros(4 * u, np.float32)
            bias[u:2 * u] = 1.0
            out.append([kernel, recurrent, bias])
        else:
            out.append([])
    return out
