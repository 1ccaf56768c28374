"""PyTorch builders: modules for each catalogue layer type, with the numpy weights transplanted.

Keras's layout is the reference (scenarios.weights): dense kernels are transposed, conv
kernels go from HWIO to OIHW (the data is NCHW here), a dense layer after flattening an image
has its kernel rows reordered from (h, w, c) to (c, h, w), and an LSTM keeps one trainable
bias (see _lstm). Builders return a list of modules that is spliced into one flat
nn.Sequential, so the model is the same whichever way it was described.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scenarios import LayerInfo, LayerWeights


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

    def activation(self, name: str) -> list[Any]:
        """The activation module for `name`, or none for linear."""
        acts = {"relu": self.nn.ReLU, "tanh": self.nn.Tanh, "sigmoid": self.nn.Sigmoid}
        return [acts[name]()] if name != "linear" else []


def _dense(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    kernel, bias = arrays
    if b.flattened_from is not None:
        kernel = flatten_reorder(kernel, b.flattened_from)
        b.flattened_from = None
    mod = b.nn.Linear(kernel.shape[0], kernel.shape[1])
    b.load(mod.weight, kernel.T)
    b.load(mod.bias, bias)
    return [mod, *b.activation(info.layer.activation)]


def _conv2d(b: TorchModelBuilder, info: LayerInfo, arrays: LayerWeights) -> list[Any]:
    layer = info.layer
    kernel, bias = arrays
    pad = layer.kernel_size // 2 if layer.padding == "same" else 0
    mod = b.nn.Conv2d(kernel.shape[2], kernel.shape[3], layer.kernel_size,
                      stride=layer.stride, padding=pad)
    b.load(mod.weight, kernel.transpose(3, 2, 0, 1))
    b.load(mod.bias, bias)
    return [mod, *b.activation(layer.activation)]


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


TorchBuilder = Callable[[TorchModelBuilder, LayerInfo, LayerWeights], list[Any]]

#: Catalogue type name -> the builder of its PyTorch modules.
TORCH_BUILDERS: dict[str, TorchBuilder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
    "flatten": _flatten,
    "lstm": _lstm,
}
