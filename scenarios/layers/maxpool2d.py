"""maxpool2d and avgpool2d: one value from each non-overlapping square window of an image."""

from __future__ import annotations

from ..fields import Field, Int
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .shared_fields import NO_ACTIVATION, NO_SEQUENCES

POOL_SIZE = Field("pool_size", Int(), 2, doc="side of the window; the stride equals it")


class MaxPool2D(LayerType):
    """Keeps the largest value of each pool_size x pool_size window (stride = pool_size)."""

    name = "maxpool2d"
    summary = "max pooling over an image [H, W, C]"
    fields = (POOL_SIZE, NO_ACTIVATION, NO_SEQUENCES)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 3:
            raise LayerMisfit(
                f"{self.name} expects an image input [H, W, C], got {fmt_shape(shape)}")
        h, w, c = shape
        p = layer.pool_size
        if p > h or p > w:
            raise LayerMisfit(f"pool {p}x{p} does not fit input {fmt_shape(shape)}")
        return (h // p, w // p, c)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        ho, wo, c = out
        return ho * wo * c * layer.pool_size * layer.pool_size  # one operation per input read

    def describe(self, layer: LayerSpec) -> str:
        return f"{self.name} {layer.pool_size}x{layer.pool_size}"


class AvgPool2D(MaxPool2D):
    """Averages each pool_size x pool_size window (stride = pool_size), no padding."""

    name = "avgpool2d"
    summary = "average pooling over an image [H, W, C]"
    fields = (POOL_SIZE,)
