"""dropout: random zeroing in training; nothing in inference."""

from __future__ import annotations

import math

from ..fields import Field, Float
from .catalogue import LayerInfo, LayerSpec, LayerType, Shape


class Dropout(LayerType):
    """Zeroes each value with probability `rate` in training (survivors scaled by
    1 / (1 - rate)); does nothing in inference. Each framework draws its own masks."""

    name = "dropout"
    summary = "random zeroing in training, none in inference"
    fields = (Field("rate", Float(positive=False, below=1.0),
                    doc="probability of zeroing each value in training"),)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return math.prod(shape) if layer.rate > 0 else 0  # the mask's multiply, in training

    def describe(self, layer: LayerSpec) -> str:
        return f"dropout {layer.rate:g}"
