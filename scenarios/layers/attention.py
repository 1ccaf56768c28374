"""attention: multi-head self-attention over a sequence [T, E], with biases, no dropout."""

from __future__ import annotations

from ..fields import Bool, Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, fmt_shape
from .initializers import glorot_uniform, zeros


class Attention(LayerType):
    """softmax(Q K^T / sqrt(E / heads)) V per head, heads concatenated, then an output
    projection; Q, K, V are projections of the same input. `causal`: a position attends to
    itself and earlier positions only."""

    name = "attention"
    summary = "multi-head self-attention over a sequence [T, E]"
    fields = (
        Field("heads", Int(), doc="attention heads; the width E must be divisible by it"),
        Field("causal", Bool(), False, doc="true: each position sees only itself and earlier"),
    )

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 2:
            raise LayerMisfit(f"attention expects a sequence input [T, E], got {fmt_shape(shape)}")
        if shape[1] % layer.heads:
            raise LayerMisfit(f"expected a divisor of the input width E = {shape[1]} "
                              f"(input {fmt_shape(shape)}), got heads = {layer.heads}",
                              field="heads")
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        e = shape[1]
        return 4 * e * e + 4 * e  # query, key, value and output projections with biases

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        t, e = shape
        # Four E x E projections per position, then Q K^T and the weighted sum A V over all
        # heads (T x T x E multiply-adds each; a causal mask still computes the full square).
        return 2 * 4 * t * e * e + 2 * 2 * t * t * e

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """Keras MultiHeadAttention's arrays: for query, key and value a kernel (E, heads, dk)
        and a bias (heads, dk), then the output kernel (heads, dk, E) and bias (E), dk =
        E / heads. Each kernel is Glorot-uniform as the E x E matrix it acts as."""
        e, h = shape[1], layer.heads
        dk = e // h
        arrays: list[np.ndarray] = []
        for _ in ("query", "key", "value"):
            arrays += [glorot_uniform(rng, (e, e), e, e).reshape(e, h, dk),
                       zeros(e).reshape(h, dk)]
        return arrays + [glorot_uniform(rng, (e, e), e, e).reshape(h, dk, e), zeros(e)]

    def describe(self, layer: LayerSpec) -> str:
        return f"attention {layer.heads} heads" + (" causal" if layer.causal else "")
