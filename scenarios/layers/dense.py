"""dense: fully connected over the last axis (a vector, or each position of a sequence)."""

from __future__ import annotations

import math

from ..fields import Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros
from .shared_fields import ACTIVATION, NO_SEQUENCES, with_activation


class Dense(LayerType):
    """Every output is a weighted sum of the last axis's inputs plus a bias, then the
    activation; on a sequence [T, F] the same weights apply at every position."""

    name = "dense"
    summary = "fully connected layer on a vector [N] or per position of a sequence [T, F]"
    fields = (
        Field("units", Int(), doc="output width"),
        ACTIVATION,
        NO_SEQUENCES,
    )

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        # Not on images: Keras would apply it to the channels, PyTorch (NCHW) to the width.
        if len(shape) not in (1, 2):
            raise LayerMisfit(f"dense expects a flat input [N] or a sequence [T, F], got "
                              f"{fmt_shape(shape)}; add a flatten layer before it")
        return (*shape[:-1], layer.units)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return shape[-1] * layer.units + layer.units

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 2 * math.prod(shape) * layer.units

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel (in, out), bias (out)]."""
        n_in, n_out = shape[-1], layer.units
        return [glorot_uniform(rng, (n_in, n_out), n_in, n_out), zeros(n_out)]

    def describe(self, layer: LayerSpec) -> str:
        return with_activation(f"dense {layer.units}", layer)
