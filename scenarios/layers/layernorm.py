"""layernorm: each position normalised over its last axis, then scaled and shifted."""

from __future__ import annotations

import numpy as np

from ..fields import Field, Float
from .catalogue import LayerInfo, LayerSpec, LayerType, Shape
from .initializers import ones, zeros
from .normalization import normalization_flops


class LayerNorm(LayerType):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis (biased variance)."""

    name = "layernorm"
    summary = "layer normalisation over the last axis"
    fields = (Field("epsilon", Float(), 1e-5,
                    doc="added to the variance; set on both frameworks (Keras's default is "
                        "1e-3, PyTorch's 1e-5)"),)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 2 * shape[-1]

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return normalization_flops(shape)

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[gamma (ones), beta (zeros)], both of the last axis's width."""
        return [ones(shape[-1]), zeros(shape[-1])]

    def describe(self, layer: LayerSpec) -> str:
        return f"layernorm eps {layer.epsilon:g}"
