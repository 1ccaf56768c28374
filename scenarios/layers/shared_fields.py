"""Fields that several layer types declare alike: the activation, and the two constants that
every layer of the first five types carried in the results export."""

from __future__ import annotations

from ..fields import Choice, Const, Field
from .catalogue import LayerSpec

#: gelu is the exact one (erf), not the tanh approximation, on both frameworks; softmax is
#: over the last axis (the channels of an image).
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "gelu", "softmax")

#: An activation applied to the layer's output; `linear` applies none.
ACTIVATION = Field("activation", Choice(ACTIVATIONS), "linear",
                   doc="applied to the output; linear applies none")
#: For a layer that applies no activation of its own.
NO_ACTIVATION = Field("activation", Const("linear"))
#: For a layer whose output is never a sequence of per-step outputs.
NO_SEQUENCES = Field("return_sequences", Const(False))


def with_activation(text: str, layer: LayerSpec) -> str:
    """`text`, followed by the layer's activation unless it is linear."""
    return text if layer.activation == "linear" else f"{text} {layer.activation}"
