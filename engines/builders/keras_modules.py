"""Keras layers that the catalogue needs and keras.layers lacks in the needed form.

They are defined by a factory that is handed keras (this module must not import it), once per
keras module. Keras 3's functional API refuses raw backend ops on symbolic tensors, so each
of these is a small Layer whose call uses keras.ops.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any


@functools.cache
def keras_modules(keras: Any) -> SimpleNamespace:
    """The layer classes, made with `keras`."""
    ops = keras.ops

    class PositionEmbedding(keras.layers.Layer):
        """A learned (T, E) table added to every sequence."""

        def build(self, input_shape: Any) -> None:
            self.positions = self.add_weight(shape=tuple(input_shape[1:]), name="positions",
                                             initializer="zeros")

        def call(self, x: Any) -> Any:
            return ops.add(x, self.positions)

    class SelfAttention(keras.layers.Layer):
        """MultiHeadAttention with query = key = value (dropout 0), causal or not."""

        def __init__(self, attention: Any, causal: bool, **kwargs: Any):
            super().__init__(**kwargs)
            self.attention, self.causal = attention, causal

        def call(self, x: Any) -> Any:
            return self.attention(x, x, use_causal_mask=self.causal)

    class Residual(keras.layers.Layer):
        """shortcut(x) + f(x): `inner` are f's layers, `shortcut` the projection's (none:
        identity). Inner layers learn training or inference from this layer's call."""

        def __init__(self, inner: list[Any], shortcut: list[Any], **kwargs: Any):
            super().__init__(**kwargs)
            self.inner, self.shortcut = inner, shortcut

        def call(self, x: Any) -> Any:
            y = x
            for layer in self.inner:
                y = layer(y)
            s = x
            for layer in self.shortcut:
                s = layer(s)
            return ops.add(s, y)

    return SimpleNamespace(PositionEmbedding=PositionEmbedding, SelfAttention=SelfAttention,
                           Residual=Residual)
