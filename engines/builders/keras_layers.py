"""Keras builders: a layer for each catalogue layer type, holding the numpy initial weights.

The numpy weights are already in Keras's order and layout (scenarios.weights), so a builder
makes the layer, builds it for its known input shape and sets them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scenarios import LayerInfo, LayerWeights


def keras_layers(keras: Any, infos: list[LayerInfo] | tuple[LayerInfo, ...],
                 weights: list[LayerWeights] | tuple[LayerWeights, ...],
                 options: Mapping[str, Any] | None = None) -> list[Any]:
    """Keras layers for every layer in order (a block's builder calls this for its inner ones).

    `options` are the engine's choices that apply to every layer of a kind, e.g.
    {"lstm_use_cudnn": False} under XLA on a GPU (TFEngine.layer_options)."""
    opts = dict(options or {})
    return [KERAS_BUILDERS[info.layer.type](keras, info, arrays, opts)
            for info, arrays in zip(infos, weights, strict=True)]


def _loaded(layer: Any, info: LayerInfo, arrays: LayerWeights) -> Any:
    """`layer`, built for its input shape and holding `arrays` (if it has any)."""
    if len(arrays):
        layer.build((None, *info.input_shape))
        layer.set_weights(list(arrays))
    return layer


def _activation(name: str) -> str | None:
    return None if name == "linear" else name


def _dense(keras: Any, info: LayerInfo, arrays: LayerWeights,
        options: Mapping[str, Any]) -> Any:
    layer = info.layer
    return _loaded(keras.layers.Dense(layer.units, activation=_activation(layer.activation)),
                   info, arrays)


def _conv2d(keras: Any, info: LayerInfo, arrays: LayerWeights,
        options: Mapping[str, Any]) -> Any:
    layer = info.layer
    conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.stride,
                               padding=layer.padding, activation=_activation(layer.activation))
    return _loaded(conv, info, arrays)


def _maxpool2d(keras: Any, info: LayerInfo, arrays: LayerWeights,
        options: Mapping[str, Any]) -> Any:
    return keras.layers.MaxPooling2D(info.layer.pool_size)


def _flatten(keras: Any, info: LayerInfo, arrays: LayerWeights,
        options: Mapping[str, Any]) -> Any:
    return keras.layers.Flatten()


def _lstm(keras: Any, info: LayerInfo, arrays: LayerWeights,
        options: Mapping[str, Any]) -> Any:
    # The forget-gate +1 lives in the shared initial bias, not in Keras's default.
    lstm = keras.layers.LSTM(info.layer.units, return_sequences=info.layer.return_sequences,
                             unit_forget_bias=False,
                             use_cudnn=options.get("lstm_use_cudnn", "auto"))
    return _loaded(lstm, info, arrays)


KerasBuilder = Callable[[Any, LayerInfo, LayerWeights, Mapping[str, Any]], Any]

#: Catalogue type name -> the builder of its Keras layer.
KERAS_BUILDERS: dict[str, KerasBuilder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
    "flatten": _flatten,
    "lstm": _lstm,
}
