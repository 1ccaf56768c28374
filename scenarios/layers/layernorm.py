"""layernorm: each position normalised over its last axis, then scaled and shifted."""

from __future__ import annotations

from ..fields import Field, Float
from .catalogue import LayerSpec
from .normalization import Normalization


class LayerNorm(Normalization):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis (biased variance)."""

    name = "layernorm"
    summary = "layer normalisation over the last axis"
    fields = (Field("epsilon", Float(), 1e-5,
                    doc="added to the variance; set on both frameworks (Keras's default is "
                        "1e-3, PyTorch's 1e-5)"),)

    def describe(self, layer: LayerSpec) -> str:
        return f"layernorm eps {layer.epsilon:g}"
