"""dense: fully connected, on a flat input."""

from __future__ import annotations

import numpy as np

from ..fields import Field, Int
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros
from .shared_fields import ACTIVATION, NO_SEQUENCES, with_activation


class Dense(LayerType):
    """Every output is a weighted sum of all inputs plus a bias, then the activation."""

    name = "dense"
    summary = "fully connected layer on a flat input"
    fields = (
        Field("units", Int(), doc="output width"),
        ACTIVATION,
        NO_SEQUENCES,
    )

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 1:
            raise LayerMisfit(f"dense expects a flat input, got {fmt_shape(shape)}; "
                              "add a flatten layer before it")
        return (layer.units,)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return shape[0] * layer.units + layer.units

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 2 * shape[0] * layer.units

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel (in, out), bias (out)]."""
        n_in, n_out = shape[0], layer.units
        return [glorot_uniform(rng, (n_in, n_out), n_in, n_out), zeros(n_out)]

    def describe(self, layer: LayerSpec) -> str:
        return with_activation(f"dense {layer.units}", layer)
