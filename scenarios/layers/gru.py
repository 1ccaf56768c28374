"""gru: a gated recurrent unit over a sequence [T, F], PyTorch's formulation."""

from __future__ import annotations

from ..fields import Bool, Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, orthogonal


class GRU(LayerType):
    """Gates z (update), r (reset) and the candidate h, the reset gate applied after the
    recurrent matmul (PyTorch's GRU; Keras's reset_after=True), an input and a recurrent
    bias; the last output or every step's output."""

    name = "gru"
    summary = "GRU over a sequence [T, F]"
    fields = (
        Field("units", Int(), doc="width of the hidden state"),
        Field("return_sequences", Bool(), False,
              doc="true: every step's output [T, units]; false: the last one [units]"),
    )

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 2:
            raise LayerMisfit(f"gru expects a sequence input [T, F], got {fmt_shape(shape)}")
        return (shape[0], layer.units) if layer.return_sequences else (layer.units,)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        u = layer.units
        return 3 * u * (shape[1] + u) + 2 * 3 * u

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        steps, feats = shape
        u = layer.units
        return steps * 2 * 3 * u * (feats + u)

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[kernel (F, 3u), recurrent kernel (u, 3u), bias (2, 3u) = [input; recurrent]],
        gates in Keras's order z, r, h."""
        feats, u = shape[1], layer.units
        kernel = glorot_uniform(rng, (feats, 3 * u), feats, 3 * u)
        recurrent = np.concatenate([orthogonal(rng, u, u) for _ in range(3)], axis=1)
        return [kernel, recurrent, np.zeros((2, 3 * u), np.float32)]

    def describe(self, layer: LayerSpec) -> str:
        return f"gru {layer.units}" + (" seq" if layer.return_sequences else "")
