"""batchnorm: each channel (feature) normalised over the batch, with running statistics.

Momentum follows Keras's convention: the fraction of the old running value KEPT at each
training step (running = momentum * running + (1 - momentum) * batch). PyTorch's `momentum`
is the fraction of the new value taken in, so its builder passes 1 - momentum. Both keep the
biased batch variance (divided by n) in the running variance, as Keras does; PyTorch's own
BatchNorm keeps the unbiased one, which its builder corrects (engines/builders).
"""

from __future__ import annotations

from ..fields import Field, Float
from .catalogue import LayerSpec
from .normalization import Normalization


class BatchNorm(Normalization):
    """Training: batch statistics per channel (the last axis); inference: running statistics.

    Only gamma and beta are weights (trainable); the running mean (0) and variance (1) start
    the same on both frameworks, set by each builder.
    """

    name = "batchnorm"
    summary = "batch normalisation over the channels (last axis)"
    fields = (
        Field("momentum", Float(positive=False, below=1.0), 0.99,
              doc="fraction of the running statistics kept per training step (Keras's "
                  "convention; PyTorch's momentum is 1 minus this)"),
        Field("epsilon", Float(), 1e-3, doc="added to the variance (Keras's default)"),
    )

    def describe(self, layer: LayerSpec) -> str:
        return f"batchnorm m {layer.momentum:g}"
