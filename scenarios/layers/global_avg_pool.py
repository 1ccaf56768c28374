"""global_avg_pool: the mean over space (an image) or over time (a sequence)."""

from __future__ import annotations

import math

from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape


class GlobalAvgPool(LayerType):
    """An image [H, W, C] becomes [C], a sequence [T, F] becomes [F]: the mean of each channel."""

    name = "global_avg_pool"
    summary = "mean over space (image) or time (sequence)"

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) not in (2, 3):
            raise LayerMisfit("global_avg_pool expects an image [H, W, C] or a sequence [T, F], "
                              f"got {fmt_shape(shape)}")
        return (shape[-1],)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return math.prod(shape)  # one addition per input value
