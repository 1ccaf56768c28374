"""Keras builders: layers for each catalogue layer type, holding the numpy initial weights.

The numpy weights are already in Keras's order and layout (scenarios.weights), so a builder
makes the layer, builds it for its known input shape and sets them. A builder returns a list
of layers (an integer padding is a ZeroPadding layer before a `valid` convolution, because
TensorFlow's `same` pads asymmetrically for strides above 1); a residual block is one layer
holding its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from scenarios import LayerInfo, LayerWeights
from scenarios.layers.padding import pad_width
from scenarios.layers.residual import project_stride

from .keras_modules import keras_modules


def keras_layers(keras: Any, infos: list[LayerInfo] | tuple[LayerInfo, ...],
                 weights: list[LayerWeights] | tuple[LayerWeights, ...],
                 options: Mapping[str, Any] | None = None) -> list[Any]:
    """Keras layers for every layer in order (a block's builder calls this for its inner ones).

    `options` are the engine's choices that apply to every layer of a kind, e.g.
    {"lstm_use_cudnn": False, "gru_use_cudnn": False} under XLA on a GPU (TFEngine)."""
    opts = dict(options or {})
    layers: list[Any] = []
    for info, arrays in zip(infos, weights, strict=True):
        layers.extend(KERAS_BUILDERS[info.layer.type](keras, info, arrays, opts))
    return layers


def _loaded(layer: Any, arrays: Any, input_shape: tuple[int, ...]) -> Any:
    """`layer`, built for `input_shape` (one sample's) and holding `arrays` (if any)."""
    if len(arrays):
        layer.build((None, *input_shape))
        layer.set_weights(list(arrays))
    return layer


def _activation_name(name: str) -> str | None:
    # Keras's "gelu" is the exact form; softmax is over the last axis (channels, in NHWC).
    return None if name == "linear" else name


def _dense(keras: Any, info: LayerInfo, arrays: LayerWeights,
           options: Mapping[str, Any]) -> list[Any]:
    layer = info.layer
    dense = keras.layers.Dense(layer.units, activation=_activation_name(layer.activation))
    return [_loaded(dense, arrays, info.input_shape)]


def _padded(keras: Any, info: LayerInfo, conv: Any, arrays: LayerWeights,
            zero_padding: Any) -> list[Any]:
    """`conv` (built `valid` or `same`), after `zero_padding` for an integer padding."""
    pad = pad_width(info.layer)
    if info.layer.padding in ("valid", "same") or pad == 0:
        return [_loaded(conv, arrays, info.input_shape)]
    # The padded input: every axis but the channels grows by 2 * pad.
    shape = (*(n + 2 * pad for n in info.input_shape[:-1]), info.input_shape[-1])
    return [zero_padding(pad), _loaded(conv, arrays, shape)]


def _conv_padding(info: LayerInfo) -> str:
    return "same" if info.layer.padding == "same" else "valid"


def _conv2d(keras: Any, info: LayerInfo, arrays: LayerWeights,
            options: Mapping[str, Any]) -> list[Any]:
    layer = info.layer
    conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.stride,
                               padding=_conv_padding(info),
                               activation=_activation_name(layer.activation))
    return _padded(keras, info, conv, arrays, keras.layers.ZeroPadding2D)


def _conv1d(keras: Any, info: LayerInfo, arrays: LayerWeights,
            options: Mapping[str, Any]) -> list[Any]:
    layer = info.layer
    conv = keras.layers.Conv1D(layer.filters, layer.kernel_size, strides=layer.stride,
                               padding=_conv_padding(info))
    return _padded(keras, info, conv, arrays, keras.layers.ZeroPadding1D)


def _maxpool2d(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    return [keras.layers.MaxPooling2D(info.layer.pool_size)]


def _avgpool2d(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    return [keras.layers.AveragePooling2D(info.layer.pool_size)]


def _global_avg_pool(keras: Any, info: LayerInfo, arrays: LayerWeights,
                     options: Mapping[str, Any]) -> list[Any]:
    if len(info.input_shape) == 3:
        return [keras.layers.GlobalAveragePooling2D()]
    return [keras.layers.GlobalAveragePooling1D()]


def _flatten(keras: Any, info: LayerInfo, arrays: LayerWeights,
             options: Mapping[str, Any]) -> list[Any]:
    return [keras.layers.Flatten()]


def _activation(keras: Any, info: LayerInfo, arrays: LayerWeights,
                options: Mapping[str, Any]) -> list[Any]:
    return [keras.layers.Activation(info.layer.activation)]


def _dropout(keras: Any, info: LayerInfo, arrays: LayerWeights,
             options: Mapping[str, Any]) -> list[Any]:
    return [keras.layers.Dropout(info.layer.rate)]


def _batchnorm(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    layer = info.layer
    norm = keras.layers.BatchNormalization(axis=-1, momentum=layer.momentum,
                                           epsilon=layer.epsilon)
    gamma, beta = arrays
    # The running statistics start at mean 0, variance 1 (the PyTorch builder's too).
    norm.build((None, *info.input_shape))
    norm.set_weights([gamma, beta, np.zeros_like(gamma), np.ones_like(gamma)])
    return [norm]


def _layernorm(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    norm = keras.layers.LayerNormalization(axis=-1, epsilon=info.layer.epsilon)
    return [_loaded(norm, arrays, info.input_shape)]


def _embedding(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    (table,) = arrays
    return [_loaded(keras.layers.Embedding(*table.shape), arrays, info.input_shape)]


def _position_embedding(keras: Any, info: LayerInfo, arrays: LayerWeights,
                        options: Mapping[str, Any]) -> list[Any]:
    return [_loaded(keras_modules(keras).PositionEmbedding(), arrays, info.input_shape)]


def _attention(keras: Any, info: LayerInfo, arrays: LayerWeights,
               options: Mapping[str, Any]) -> list[Any]:
    shape = (None, *info.input_shape)
    heads = info.layer.heads
    attention = keras.layers.MultiHeadAttention(num_heads=heads,
                                                key_dim=info.input_shape[1] // heads,
                                                use_bias=True, dropout=0.0)
    attention.build(shape, shape)
    attention.set_weights(list(arrays))
    return [keras_modules(keras).SelfAttention(attention, info.layer.causal)]


def _lstm(keras: Any, info: LayerInfo, arrays: LayerWeights,
          options: Mapping[str, Any]) -> list[Any]:
    # The forget-gate +1 lives in the shared initial bias, not in Keras's default.
    lstm = keras.layers.LSTM(info.layer.units, return_sequences=info.layer.return_sequences,
                             unit_forget_bias=False,
                             use_cudnn=options.get("lstm_use_cudnn", "auto"))
    return [_loaded(lstm, arrays, info.input_shape)]


def _gru(keras: Any, info: LayerInfo, arrays: LayerWeights,
         options: Mapping[str, Any]) -> list[Any]:
    # reset_after=True is PyTorch's formulation (reset gate after the recurrent matmul).
    gru = keras.layers.GRU(info.layer.units, return_sequences=info.layer.return_sequences,
                           reset_after=True, use_cudnn=options.get("gru_use_cudnn", "auto"))
    return [_loaded(gru, arrays, info.input_shape)]


def _residual(keras: Any, info: LayerInfo, arrays: LayerWeights,
              options: Mapping[str, Any]) -> list[Any]:
    inner = keras_layers(keras, info.inner, arrays.inner, options)
    shortcut: list[Any] = []
    if info.layer.shortcut == "project":
        units = info.output_shape[-1]
        if len(info.input_shape) == 3:
            stride = project_stride(info.input_shape, info.output_shape)
            project = keras.layers.Conv2D(units, 1, strides=stride, padding="valid")
        else:
            project = keras.layers.Dense(units)
        shortcut = [_loaded(project, arrays, info.input_shape)]
    return [keras_modules(keras).Residual(inner, shortcut)]


KerasBuilder = Callable[[Any, LayerInfo, LayerWeights, Mapping[str, Any]], list[Any]]

#: Catalogue type name -> the builder of its Keras layers.
KERAS_BUILDERS: dict[str, KerasBuilder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
    "flatten": _flatten,
    "lstm": _lstm,
    "conv1d": _conv1d,
    "avgpool2d": _avgpool2d,
    "global_avg_pool": _global_avg_pool,
    "activation": _activation,
    "dropout": _dropout,
    "batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "embedding": _embedding,
    "position_embedding": _position_embedding,
    "attention": _attention,
    "gru": _gru,
    "residual": _residual,
}
