"""Zero padding of a convolution (conv1d, conv2d): `valid`, `same`, or an integer per side.

Both frameworks must pad identically. TensorFlow's `same` pads asymmetrically for even kernels
and strides above 1, so `same` is refused there; a symmetric integer padding (`padding = 1`)
covers strided convolutions (Keras pads it with a ZeroPadding layer, PyTorch in the
convolution itself).
"""

from __future__ import annotations

from ..fields import Field, Padding
from .catalogue import LayerMisfit, LayerSpec

#: The padding field of a convolution, `valid` unless the file says otherwise.
PADDING = Field("padding", Padding(), "valid",
                doc="valid: none; same: keep the size (odd kernel, stride 1); an integer: "
                    "that many zeros on each side")


def check_padding(layer: LayerSpec) -> None:
    """Refuse a `same` padding the two frameworks would not compute identically."""
    if layer.padding != "same":
        return
    if layer.kernel_size % 2 == 0:
        raise LayerMisfit("padding 'same' needs an odd kernel_size (TensorFlow pads even "
                          f"kernels asymmetrically), got {layer.kernel_size}",
                          field="kernel_size")
    if layer.stride != 1:
        raise LayerMisfit(f"padding 'same' needs stride 1, got {layer.stride}; use an integer "
                          "padding for a strided convolution", field="stride")


def pad_width(layer: LayerSpec) -> int:
    """Zeros added on each side of each padded axis."""
    if layer.padding == "same":
        return layer.kernel_size // 2
    return 0 if layer.padding == "valid" else layer.padding


def padded_size(n: int, layer: LayerSpec) -> int:
    """The output length along one axis of `n` inputs (below 1: the kernel does not fit)."""
    return (n + 2 * pad_width(layer) - layer.kernel_size) // layer.stride + 1


def describe_padding(layer: LayerSpec) -> str:
    """The padding as the layer table shows it: valid, same, pad1."""
    return layer.padding if isinstance(layer.padding, str) else f"pad{layer.padding}"
