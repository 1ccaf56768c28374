"""conv1d: a 1-D convolution along the time axis of a sequence [T, F]."""

from __future__ import annotations

from ..fields import Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros
from .padding import PADDING, check_padding, describe_padding, padded_size


class Conv1D(LayerType):
    """Kernels of kernel_size steps slid along T with a stride, over all F features; linear."""

    name = "conv1d"
    summary = "1-D convolution along a sequence [T, F]"
    fields = (
        Field("filters", Int(), doc="output features per step"),
        Field("kernel_size", Int(), doc="steps the kernel spans"),
        Field("stride", Int(), 1, doc="step of the kernel along T"),
        PADDING,
    )

    def check(self, layer: LayerSpec) -> None:
        check_padding(layer)

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 2:
            raise LayerMisfit(f"conv1d expects a sequence input [T, F], got {fmt_shape(shape)}")
        steps = padded_size(shape[0], layer)
        if steps < 1:
            raise LayerMisfit(f"conv1d kernel {layer.kernel_size} does not fit input "
                              f"{fmt_shape(shape)} with padding {layer.padding!r}")
        return (steps, layer.filters)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return layer.kernel_size * shape[1] * layer.filters + layer.filters

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 2 * layer.kernel_size * shape[1] * layer.filters * out[0]

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel (k, F, filters), bias (filters)]."""
        k, feats, f = layer.kernel_size, shape[1], layer.filters
        return [glorot_uniform(rng, (k, feats, f), k * feats, k * f), zeros(f)]

    def describe(self, layer: LayerSpec) -> str:
        return (f"conv1d {layer.filters}@{layer.kernel_size} s{layer.stride} "
                f"{describe_padding(layer)}")
