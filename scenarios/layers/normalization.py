"""What the two normalisation layers (batchnorm, layernorm) share: shapes, a learned scale and
shift over the last axis, and their arithmetic count."""

from __future__ import annotations

import math

from ..lazy import np
from .catalogue import LayerInfo, LayerSpec, LayerType, Shape
from .initializers import ones, zeros

#: Per value: the statistics (a sum and a sum of squares) and the normalisation with its scale
#: and shift folded into one multiply-add.
FLOPS_PER_VALUE = 4


class Normalization(LayerType):
    """Normalises its input (subclasses say over what), then scales by gamma and shifts by
    beta, both of the last axis's width; the shape is kept."""

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 2 * shape[-1]

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return FLOPS_PER_VALUE * math.prod(shape)

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[gamma (ones), beta (zeros)] of the last axis's width."""
        return [ones(shape[-1]), zeros(shape[-1])]
