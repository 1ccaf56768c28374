"""What the two normalisation layers (batchnorm, layernorm) share: their arithmetic count."""

from __future__ import annotations

import math

from .catalogue import Shape

#: Per value: the statistics (a sum and a sum of squares) and the normalisation with its scale
#: and shift folded into one multiply-add.
FLOPS_PER_VALUE = 4


def normalization_flops(shape: Shape) -> int:
    """Forward FLOPs of normalising every value of `shape`."""
    return FLOPS_PER_VALUE * math.prod(shape)
