"""embedding and position_embedding: learned vectors looked up by token id, or by position."""

from __future__ import annotations

import math

from ..fields import Field, Int
from ..lazy import np
from .catalogue import LayerInfo, LayerMisfit, LayerSpec, LayerType, Shape, TokenIds, fmt_shape
from .initializers import small_uniform


class Embedding(LayerType):
    """Token ids [T] to vectors [T, dim]; the vocabulary size comes from the token data."""

    name = "embedding"
    summary = "token ids [T] to vectors [T, dim]"
    fields = (Field("dim", Int(), doc="width of each token's vector"),)
    takes_token_ids = True

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if not isinstance(shape, TokenIds):
            raise LayerMisfit("embedding expects token ids (data kind \"tokens\"), got "
                              f"{fmt_shape(shape)} of numbers")
        return (shape[0], layer.dim)

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return shape.vocab * layer.dim  # type: ignore[attr-defined]

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return 0  # a table lookup: no arithmetic

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[table (vocab, dim)]."""
        return [small_uniform(rng, (shape.vocab, layer.dim))]  # type: ignore[attr-defined]

    def describe(self, layer: LayerSpec) -> str:
        return f"embedding {layer.dim}"


class PositionEmbedding(LayerType):
    """A learned vector per position, added to a sequence [T, E]."""

    name = "position_embedding"
    summary = "learned position vectors added to a sequence [T, E]"

    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        if len(shape) != 2:
            raise LayerMisfit("position_embedding expects a sequence input [T, E], got "
                              f"{fmt_shape(shape)}")
        return shape

    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return math.prod(shape)

    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        return math.prod(shape)  # one addition per value

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """[positions (T, E)]."""
        return [small_uniform(rng, tuple(shape))]

    def describe(self, layer: LayerSpec) -> str:
        return "position_embedding"
