"""Initial weights generated once in numpy, in Keras layout; engines transplant them.

One generator, seeded from the scenario, is drawn from layer by layer in stack order (a
block's own arrays, then its inner layers'), so the same scenario and seed always give the
same numbers, on both frameworks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .layers import CATALOGUE, LayerInfo
from .lazy import np
from .shapes import infer_stack
from .spec import Scenario


@dataclass(frozen=True, eq=False)
class LayerWeights(Sequence):
    """One layer's own arrays (it reads as a sequence of them) and its inner layers' weights.

    The arrays are in Keras's order and layout, as the layer's catalogue entry documents, e.g.
    dense: [kernel (in, out), bias]; conv2d: [kernel HWIO, bias]; lstm: [kernel (F, 4u),
    recurrent (u, 4u), bias (4u)]; layers without parameters: [].
    """

    arrays: tuple[np.ndarray, ...]
    inner: tuple[LayerWeights, ...] = ()

    def __getitem__(self, index):  # type: ignore[override]
        return self.arrays[index]

    def __len__(self) -> int:
        return len(self.arrays)


def stack_weights(infos: list[LayerInfo] | tuple[LayerInfo, ...],
                  rng: np.random.Generator) -> list[LayerWeights]:
    """Initial weights of inferred layers, drawn from `rng` in order."""
    out = []
    for info in infos:
        entry = CATALOGUE[info.layer.type]
        own = entry.weights(info.layer, info.input_shape, info.output_shape, rng)
        out.append(LayerWeights(tuple(own), tuple(stack_weights(info.inner, rng))))
    return out


def initial_weights(scenario: Scenario, seed: int | None = None) -> list[LayerWeights]:
    """Per layer of the scenario's model, its initial weights (the same for the same seed)."""
    rng = np.random.default_rng([1, scenario.data.seed if seed is None else seed])
    return stack_weights(infer_stack(scenario.layers, scenario.data.input_shape), rng)
