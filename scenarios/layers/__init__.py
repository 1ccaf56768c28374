"""The layer catalogue: one module per layer type, all of them installed in CATALOGUE.

To add a type, write its module (a `LayerType` subclass) and name it in the `install` call
below; that call's order is the documented order of the types.
"""

from .catalogue import (
    CATALOGUE,
    LayerInfo,
    LayerMisfit,
    LayerSpec,
    LayerType,
    fmt_shape,
    install,
    layer_type,
)
from .conv2d import Conv2D
from .dense import Dense
from .flatten import Flatten
from .lstm import LSTM
from .maxpool2d import MaxPool2D
from .shared_fields import ACTIVATIONS

install(Dense, Conv2D, MaxPool2D, Flatten, LSTM)

#: Every layer type name, in the documented order.
LAYER_TYPES = tuple(CATALOGUE)

__all__ = [
    "ACTIVATIONS", "CATALOGUE", "LAYER_TYPES", "LayerInfo", "LayerMisfit", "LayerSpec",
    "LayerType", "fmt_shape", "layer_type",
]
