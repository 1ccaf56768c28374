"""lstm: a long short-term memory layer over a sequence [T, F]."""

from __future__ import annotations

from ..fields import Bool, Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, orthogonal, zeros
from .shared_fields import NO_ACTIVATION


class LSTM(LayerType):
    """Gates i, f, c, o with tanh/sigmoid; one bias; the last output or every step's output."""

    name = "lstm"
    summary = "LSTM over a sequence [T, F]"
    fields = (
        Field("units", Int(), doc="width of the hidden state"),
        NO_ACTIVATION,
        Field("return_sequences", Bool(), False,
              doc="true: every step's output [T, units]; false: the last one [units]"),
    )

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 2:
            raise LayerMisfit(f"lstm expects a sequence input [T, F], got {fmt_shape(shape)}")
        return (shape[0], layer.units) if layer.return_sequences else (layer.units,)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        u = layer.units
        return 4 * u * (shape[1] + u) + 4 * u

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        steps, feats = shape
        u = layer.units
        return steps * 2 * 4 * u * (feats + u)

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel (F, 4u), recurrent kernel (u, 4u), bias (4u)], gates i, f, c, o.

        The forget-gate bias is 1 in the data itself, so neither framework adds it.
        """
        feats, u = shape[1], layer.units
        kernel = glorot_uniform(rng, (feats, 4 * u), feats, 4 * u)
        recurrent = np.concatenate([orthogonal(rng, u, u) for _ in range(4)], axis=1)
        bias = zeros(4 * u)
        bias[u:2 * u] = 1.0
        return [kernel, recurrent, bias]

    def describe(self, layer: LayerSpec) -> str:
        return f"lstm {layer.units}" + (" seq" if layer.return_sequences else "")
