"""flatten: any input to a vector, in channels-last (h, w, c) order."""

from __future__ import annotations

import math

from .catalogue import LayerInfo, LayerSpec, LayerType, Shape
from .shared_fields import NO_ACTIVATION, NO_SEQUENCES


class Flatten(LayerType):
    """Reshapes one sample to a vector; Keras's order (h, w, c) is the reference order."""

    name = "flatten"
    summary = "reshape to a vector"
    fields = (NO_ACTIVATION, NO_SEQUENCES)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        return (math.prod(shape),)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0  # a reshape: no arithmetic
