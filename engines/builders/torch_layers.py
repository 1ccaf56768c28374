"""PyTorch builders: modules for each catalogue layer type, with the numpy weights transplanted.

Keras's layout is the reference (scenarios.weights): dense kernels are transposed, conv
kernels go from HWIO to OIHW (the data is NCHW here), a dense layer after flattening an image
has its kernel rows reordered from (h, w, c) to (c, h, w), an LSTM keeps one trainable
bias (see _lstm), a GRU's gate blocks go from Keras's z, r, h to torch's r, z, n, and an
attention layer's per-head kernels are packed into one in-projection. Operations over the
last axis (layer norm, softmax) run over the channels of an NCHW image, as Keras's do over
NHWC. Builders return a list of modules that is spliced into one flat nn.Sequential (a
residual block is one module holding its own), so the model is the same whichever way it
was described.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scenarios import LayerInfo, LayerWeights
from scenarios.layers.padding import pad_width
from scenarios.layers.residual import project_stride

from .torch_modules import torch_modules


def flatten_reorder(kernel: np.ndarray, hwc_shape: tuple[int, int, int]) -> np.ndarray:
    """Reorder a dense kernel's rows from Keras's (h, w, c) flattening to torch's (c, h, w)."""
    h, w, c = hwc_shape
    units = kernel.shape[1]
    return kernel.reshape(h, w, c, units).transpose(2, 0, 1, 3).reshape(-1, units)


class TorchModelBuilder:
    """Builds the modules of a layer stack; carries what one layer leaves for the next."""

    def __init__(self, torch: Any):
        self.torch = torch
        self.nn = torch.nn
        self.modules = torch_modules(torch)
        # Set by flatten of an image: the next dense layer sees features in (c, h, w) order.
        self.flattened_from: tuple[int, int, int] | None = None

    def stack(self, infos: list[LayerInfo] | tuple[LayerInfo, ...],
              weights: list[LayerWeights] | tuple[LayerWeights, ...]) -> list[Any]:
        """Modules for every layer in order (a block's builder calls this for its inner ones)."""
        modules: list[Any] = []
        for info, arrays in zip(infos, weights, strict=True):
            modules.extend(TORCH_BUILDERS[info.layer.type](self, info, arrays))
        return modules

    def load(self, param: Any, array: np.ndarray) -> None:
        """Copy a numpy array into a parameter, without recording it for autograd."""
        with self.torch.no_grad():
            param.copy_(self.torch.from_numpy(np.ascontiguousarray(array)))

    def activation(self, name: str, image: bool = False) -> list[Any]:
        """The activation module for `name`, or none for linear. `image`: the input is an
        NCHW image, whose channels (softmax's axis) are dimension 1."""
        if name == "linear":
            return []
        if name == "softmax":
            return [self.nn.Softmax(dim=1 if image else -1)]
        acts = {"relu": self.nn.ReLU, "tanh": self.nn.Tanh, "sigmoid": self.nn.Sigmoid,
                "gelu": self.nn.GELU}  # GELU's default is the exact (erf) form, as Keras's
        return [acts[name]()]


def _dense(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    kernel, bias = arrays
    if b.flattened_from is not None:
        kernel = flatten_reorder(kernel, b.flattened_from)
        b.flattened_from = None
    mod = b.nn.Linear(kernel.shape[0], kernel.shape[1])
    b.load(mod.weight, kernel.T)
    b.load(mod.bias, bias)
    return [mod, *b.activation(info.layer.activation)]  # over the last axis, as in Keras


def _conv2d(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    layer = info.layer
    kernel, bias = arrays
    mod = b.nn.Conv2d(kernel.shape[2], kernel.shape[3], layer.kernel_size,
                      stride=layer.stride, padding=pad_width(layer))
    b.load(mod.weight, kernel.transpose(3, 2, 0, 1))
    b.load(mod.bias, bias)
    return [mod, *b.activation(layer.activation, image=True)]


def _maxpool2d(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    return [b.nn.MaxPool2d(info.layer.pool_size)]


def _flatten(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    if len(info.input_shape) == 3:
        b.flattened_from = info.input_shape  # type: ignore[assignment]
    return [b.nn.Flatten()]


def _lstm(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    torch, nn = b.torch, b.nn
    kernel, recurrent, bias = arrays
    units, return_sequences = recurrent.shape[0], info.layer.return_sequences

    class LSTMLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(kernel.shape[0], units, batch_first=True)
            b.load(self.lstm.weight_ih_l0, kernel.T)
            b.load(self.lstm.weight_hh_l0, recurrent.T)
            b.load(self.lstm.bias_ih_l0, bias)
            with torch.no_grad():
                self.lstm.bias_hh_l0.zero_()
            # Keras has one bias; torch trains two whose sum acts as one, which would move it
            # twice as fast. Freeze the second so both frameworks train the same function.
            self.lstm.bias_hh_l0.requires_grad_(False)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return out if return_sequences else out[:, -1]

    return [LSTMLayer()]


def _conv1d(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    layer = info.layer
    kernel, bias = arrays  # (k, F, filters)
    mod = b.nn.Conv1d(kernel.shape[1], kernel.shape[2], layer.kernel_size,
                      stride=layer.stride, padding=pad_width(layer))
    b.load(mod.weight, kernel.transpose(2, 1, 0))
    b.load(mod.bias, bias)
    return [b.modules.AlongTime(mod)]


def _avgpool2d(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    return [b.nn.AvgPool2d(info.layer.pool_size)]


def _global_avg_pool(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    # NCHW image: over H and W; sequence [B, T, F]: over T.
    return [b.modules.MeanOver((2, 3) if len(info.input_shape) == 3 else (1,))]


def _activation(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    return b.activation(info.layer.activation, image=len(info.input_shape) == 3)


def _dropout(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    return [b.nn.Dropout(info.layer.rate)]


def _batchnorm(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    layer = info.layer
    gamma, beta = arrays
    # Channels are dimension 1 of an NCHW image and of a vector batch, the last of [B, T, F].
    mod = b.modules.BatchNorm(gamma.shape[0], layer.momentum, layer.epsilon,
                              channels_last=len(info.input_shape) == 2)
    b.load(mod.weight, gamma)
    b.load(mod.bias, beta)
    return [mod]


def _layernorm(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    gamma, beta = arrays
    mod = b.nn.LayerNorm(gamma.shape[0], eps=info.layer.epsilon)
    b.load(mod.weight, gamma)
    b.load(mod.bias, beta)
    return [b.modules.ChannelsLast(mod) if len(info.input_shape) == 3 else mod]


def _embedding(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    (table,) = arrays
    mod = b.nn.Embedding(*table.shape)
    b.load(mod.weight, table)
    return [mod]


def _position_embedding(b: TorchModelBuilder, info: LayerInfo,
                        arrays: LayerWeights) -> list[Any]:
    (positions,) = arrays
    mod = b.modules.PositionEmbedding(*positions.shape)
    b.load(mod.positions, positions)
    return [mod]


def _attention(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    steps, width = info.input_shape
    mod = b.modules.SelfAttention(width, info.layer.heads, steps, info.layer.causal)
    kq, bq, kk, bk, kv, bv, ko, bo = arrays
    # Keras's per-head (E, H, dk) kernels are (E, E) matrices in (in, out) layout; torch packs
    # [Wq; Wk; Wv] in (out, in) layout, its output projection likewise.
    b.load(mod.mha.in_proj_weight,
           np.concatenate([k.reshape(width, width).T for k in (kq, kk, kv)]))
    b.load(mod.mha.in_proj_bias, np.concatenate([v.reshape(-1) for v in (bq, bk, bv)]))
    b.load(mod.mha.out_proj.weight, ko.reshape(width, width).T)
    b.load(mod.mha.out_proj.bias, bo)
    return [mod]


def _gru(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    kernel, recurrent, bias = arrays
    units = recurrent.shape[0]
    mod = b.modules.GRULayer(kernel.shape[0], units, info.layer.return_sequences)

    def r_z_n(a: np.ndarray) -> np.ndarray:
        # Keras's gate blocks z, r, h along the last axis, in torch's order r, z, n.
        z, r, h = np.split(a, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)

    b.load(mod.gru.weight_ih_l0, r_z_n(kernel).T)
    b.load(mod.gru.weight_hh_l0, r_z_n(recurrent).T)
    # Both biases stay trainable: Keras's GRU (reset_after) has both too and trains both (the
    # LSTM's single Keras bias is why its second torch bias is frozen).
    b.load(mod.gru.bias_ih_l0, r_z_n(bias[0]))
    b.load(mod.gru.bias_hh_l0, r_z_n(bias[1]))
    return [mod]


def _residual(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    inner = b.stack(info.inner, arrays.inner)
    shortcut = None
    if info.layer.shortcut == "project":
        kernel, bias = arrays
        if len(info.input_shape) == 3:  # a 1x1 convolution, HWIO -> OIHW
            stride = project_stride(info.input_shape, info.output_shape)
            shortcut = b.nn.Conv2d(kernel.shape[2], kernel.shape[3], 1, stride=stride)
            b.load(shortcut.weight, kernel.transpose(3, 2, 0, 1))
        else:
            shortcut = b.nn.Linear(*kernel.shape)
            b.load(shortcut.weight, kernel.T)
        b.load(shortcut.bias, bias)
    return [b.modules.Residual(inner, shortcut)]


TorchBuilder = Callable[[TorchModelBuilder, LayerInfo, LayerWeights], list[Any]]

#: Catalogue type name -> the builder of its PyTorch modules.
TORCH_BUILDERS: dict[str, TorchBuilder] = {
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
