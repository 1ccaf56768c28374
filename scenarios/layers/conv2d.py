"""conv2d: a 2-D convolution over an image [H, W, C]."""

from __future__ import annotations

from ..fields import Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros
from .padding import PADDING, check_padding, describe_padding, padded_size
from .shared_fields import ACTIVATION, NO_SEQUENCES, with_activation


class Conv2D(LayerType):
    """Square kernels slid over the image with a stride; `same` keeps H and W at stride 1."""

    name = "conv2d"
    summary = "2-D convolution over an image [H, W, C]"
    fields = (
        Field("filters", Int(), doc="output channels"),
        Field("kernel_size", Int(), doc="side of the square kernel"),
        Field("stride", Int(), 1, doc="step of the kernel, both ways"),
        PADDING,
        ACTIVATION,
        NO_SEQUENCES,
    )

    def check(self, layer: LayerSpec) -> None:
        check_padding(layer)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 3:
            raise LayerMisfit(f"conv2d expects an image input [H, W, C], got {fmt_shape(shape)}")
        h, w, _ = shape
        ho, wo = padded_size(h, layer), padded_size(w, layer)
        if ho < 1 or wo < 1:
            k = layer.kernel_size
            raise LayerMisfit(f"conv2d kernel {k}x{k} does not fit input {fmt_shape(shape)} "
                              f"with padding {layer.padding!r}")
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
            f"conv2d {layer.filters}@{k}x{k} s{layer.stride} {describe_padding(layer)}", layer)
