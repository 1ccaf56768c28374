"""activation: an activation function as a layer of its own."""

from __future__ import annotations

import math

from ..fields import Choice, Field
from .catalogue import LayerInfo, LayerSpec, LayerType, Shape
from .shared_fields import ACTIVATIONS


class Activation(LayerType):
    """An activation as a layer of its own (softmax: over the last axis, an image's channels)."""

    name = "activation"
    summary = "an activation function on its own"
    fields = (Field("activation", Choice(ACTIVATIONS),
                    doc="gelu is exact (not the tanh approximation); softmax is over the last "
                        "axis"),)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0 if layer.activation == "linear" else math.prod(shape)  # one per value

    def describe(self, layer: LayerSpec) -> str:
        return layer.activation
