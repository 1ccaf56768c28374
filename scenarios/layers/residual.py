"""residual: a block whose output is shortcut(x) + f(x), f being its inner layers."""

from __future__ import annotations

import math

from ..fields import Choice, Field, LayerList
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros


def project_stride(shape: Shape, out: Shape) -> int | None:
    """The stride of a 1x1 convolution (no padding) that takes image `shape`'s height and
    width to `out`'s, or None when none does."""
    (h, w), (ho, wo) = shape[:2], out[:2]
    return next((s for s in range(1, max(h, w) + 1)
                 if (h - 1) // s + 1 == ho and (w - 1) // s + 1 == wo), None)


class Residual(LayerType):
    """The inner layers f, and a shortcut added to their output: the input itself
    (`identity`: f must return the input's shape) or a projection of it (`project`: a 1x1
    convolution with the stride that matches f's output on images, a dense layer over the last
    axis on vectors and sequences). Blocks nest."""

    name = "residual"
    summary = "shortcut(x) + f(x) over inner layers f"
    fields = (
        Field("layers", LayerList(), doc="the inner layers f"),
        Field("shortcut", Choice(("identity", "project")), "identity",
              doc="identity: x itself; project: a 1x1 convolution (images) or a dense layer "
                  "(vectors, sequences) to f's output shape"),
    )

    def check(self, layer: LayerSpec) -> None:
        if not layer.layers:
            raise LayerMisfit("expected at least one inner layer", field="layers")

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        out = inner[-1].output_shape if inner else shape
        if layer.shortcut == "identity":
            if out != shape:
                raise LayerMisfit(
                    f"expected inner layers that return the input's shape {fmt_shape(shape)} "
                    f"for shortcut 'identity', got {fmt_shape(out)}; use shortcut = "
                    "\"project\" or change the inner layers", field="shortcut")
            return out
        if len(out) != len(shape):
            raise LayerMisfit(f"a projection cannot take {fmt_shape(shape)} to {fmt_shape(out)}"
                              " (a different rank)", field="shortcut")
        if len(shape) == 3:
            if project_stride(shape, out) is None:
                raise LayerMisfit(f"no 1x1 convolution stride takes {fmt_shape(shape)} to "
                                  f"{fmt_shape(out)}", field="shortcut")
        elif shape[:-1] != out[:-1]:
            raise LayerMisfit(f"a dense projection keeps all but the last axis: it cannot take "
                              f"{fmt_shape(shape)} to {fmt_shape(out)}", field="shortcut")
        return out

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        if layer.shortcut == "identity":
            return 0
        return shape[-1] * out[-1] + out[-1]

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        add = math.prod(out)
        if layer.shortcut == "identity":
            return add
        return add + 2 * math.prod(out[:-1]) * shape[-1] * out[-1]

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """Identity: []. Project: [kernel, bias], the kernel (1, 1, C, C') on images (HWIO),
        (F, F') otherwise."""
        if layer.shortcut == "identity":
            return []
        c, co = shape[-1], out[-1]
        kernel = glorot_uniform(rng, (c, co), c, co)
        return [kernel.reshape(1, 1, c, co) if len(shape) == 3 else kernel, zeros(co)]

    def describe(self, layer: LayerSpec) -> str:
        return f"residual ({layer.shortcut})"
