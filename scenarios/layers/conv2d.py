"""conv2d: a 2-D convolution over an image [H, W, C]."""

from __future__ import annotations

import math

import numpy as np

from ..fields import Choice, Field, Int
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros
from .shared_fields import ACTIVATION, NO_SEQUENCES, with_activation


class Conv2D(LayerType):
    """Square kernels slid over the image with a stride; `same` keeps H and W at stride 1."""

    name = "conv2d"
    summary = "2-D convolution over an image [H, W, C]"
    fields = (
        Field("filters", Int(), doc="output channels"),
        Field("kernel_size", Int(), doc="side of the square kernel"),
        Field("stride", Int(), 1, doc="step of the kernel, both ways"),
        Field("padding", Choice(("valid", "same")), "valid",
              doc="same: zero-pad to keep the size (odd kernel, stride 1)"),
        ACTIVATION,
        NO_SEQUENCES,
    )

    def check(self, layer: LayerSpec) -> None:
        if layer.padding != "same":
            return
        # TF pads even kernels asymmetrically and torch's 'same' needs stride 1: refuse
        # what the two frameworks cannot compute identically.
        if layer.kernel_size % 2 == 0:
            raise LayerMisfit("padding 'same' needs an odd kernel_size (TensorFlow pads even "
                              f"kernels asymmetrically), got {layer.kernel_size}",
                              field="kernel_size")
        if layer.stride != 1:
            raise LayerMisfit(f"padding 'same' needs stride 1, got {layer.stride}",
                              field="stride")

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 3:
            raise LayerMisfit(f"conv2d expects an image input [H, W, C], got {fmt_shape(shape)}")
        h, w, _ = shape
        k, s = layer.kernel_size, layer.stride
        if layer.padding == "same":
            ho, wo = math.ceil(h / s), math.ceil(w / s)
        else:
            ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if ho < 1 or wo < 1 or (layer.padding == "valid" and (k > h or k > w)):
            raise LayerMisfit(f"conv2d kernel {k}x{k} does not fit input {fmt_shape(shape)} "
                              "with padding 'valid'")
        return (ho, wo, layer.filters)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        k, f = layer.kernel_size, layer.filters
        return k * k * shape[2] * f + f

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        k, (ho, wo, f) = layer.kernel_size, out
        return 2 * k * k * shape[2] * f * ho * wo

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel HWIO (k, k, C, filters), bias (filters)]."""
        k, c, f = layer.kernel_size, shape[2], layer.filters
        return [glorot_uniform(rng, (k, k, c, f), k * k * c, k * k * f), zeros(f)]

    def describe(self, layer: LayerSpec) -> str:
        k = layer.kernel_size
        return with_activation(
            f"conv2d {layer.filters}@{k}x{k} s{layer.stride} {layer.padding}", layer)
