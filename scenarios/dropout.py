"""Whether a scenario trains with dropout, which makes exact loss parity impossible.

Each framework draws its own dropout masks from its own random stream, so two engines with
active dropout do not compute the same losses: their parity can only be judged statistically.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .layers import CATALOGUE, LayerSpec
from .spec import Scenario

DROPOUT = "dropout"


def walk_layers(layers: Iterable[LayerSpec]) -> Iterator[LayerSpec]:
    """Every layer of a stack in order, a block's inner layers right after the block."""
    for layer in layers:
        yield layer
        entry = CATALOGUE.get(layer.type)
        block = entry.inner_field if entry is not None else None
        if block is not None:
            yield from walk_layers(getattr(layer, block.name))


def has_active_dropout(scenario: Scenario) -> bool:
    """True when any layer, inner layers of blocks included, is a dropout with rate > 0.

    Training then draws random masks on each side; inference (--task infer) does not, so a
    caller judging an infer run treats it as exact whatever this says.
    """
    return any(layer.type == DROPOUT and float(getattr(layer, "rate", 0.0) or 0.0) > 0
               for layer in walk_layers(scenario.layers))
