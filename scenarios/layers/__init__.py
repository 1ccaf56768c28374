"""The layer catalogue: one module per layer type, all of them installed in CATALOGUE.

To add a type, write its module (a `LayerType` subclass) and name it in the `install` call
below; that call's order is the documented order of the types.
"""

from .activation import Activation
from .attention import Attention
from .batchnorm import BatchNorm
from .catalogue import (
    CATALOGUE,
    LayerInfo,
    LayerMisfit,
    LayerSpec,
    LayerType,
    TokenIds,
    fmt_shape,
    install,
    layer_type,
)
from .conv1d import Conv1D
from .conv2d import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding, PositionEmbedding
from .flatten import Flatten
from .global_avg_pool import GlobalAvgPool
from .gru import GRU
from .layernorm import LayerNorm
from .lstm import LSTM
from .maxpool2d import AvgPool2D, MaxPool2D
from .residual import Residual
from .shared_fields import ACTIVATIONS

install(Dense, Conv2D, MaxPool2D, Flatten, LSTM,
        Conv1D, AvgPool2D, GlobalAvgPool, Activation, Dropout, BatchNorm, LayerNorm,
        Embedding, PositionEmbedding, Attention, GRU, Residual)

#: Every layer type name, in the documented order.
LAYER_TYPES = tuple(CATALOGUE)

__all__ = [
    "ACTIVATIONS", "CATALOGUE", "LAYER_TYPES", "LayerInfo", "LayerMisfit", "LayerSpec",
    "LayerType", "TokenIds", "fmt_shape", "layer_type",
]
