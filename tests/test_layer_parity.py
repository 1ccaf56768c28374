"""Per layer type: a minimal model around it trains identically on PyTorch and TensorFlow.

CASES is the table that tests/test_catalogue.py checks: every catalogue type needs a case.
Real frameworks, CPU, float32, SGD, one thread, through the same ProcessHost the app uses
(one child per framework for this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from test_parity import hosts, losses, rel_diff  # noqa: F401  (hosts is a fixture)

from engines import settings_for
from scenarios import Scenario, parse_scenario

STEPS = 50


@dataclass(frozen=True)
class LayerCase:
    """A small model around the layer type `covers`, on data that fits it."""

    name: str
    covers: str
    data: dict[str, Any]
    layers: list[dict[str, Any]]
    learning_rate: float = 0.1


FLAT = {"kind": "teacher", "input_shape": [12], "classes": 3}
SEQUENCES = {"kind": "sequences", "input_shape": [6, 3], "classes": 3, "noise": 1.0}


def images(h: int, w: int, c: int) -> dict[str, Any]:
    """Image data of shape [h, w, c], three classes."""
    return {"kind": "images", "input_shape": [h, w, c], "classes": 3, "noise": 1.0}


CASES = [
    LayerCase("dense", "dense", FLAT, [
        {"type": "dense", "units": 16, "activation": "relu"},
        {"type": "dense", "units": 8, "activation": "tanh"},
        {"type": "dense", "units": 8, "activation": "sigmoid"},
        {"type": "dense", "units": 3}], learning_rate=0.5),
    LayerCase("conv2d-same", "conv2d", images(8, 8, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same",
         "activation": "relu"},
        {"type": "flatten"}, {"type": "dense", "units": 3}]),
    LayerCase("conv2d-valid-stride2", "conv2d", images(9, 9, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "activation": "tanh"},
        {"type": "flatten"}, {"type": "dense", "units": 3}]),
    LayerCase("maxpool2d", "maxpool2d", images(8, 8, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same",
         "activation": "relu"},
        {"type": "maxpool2d", "pool_size": 2}, {"type": "flatten"},
        {"type": "dense", "units": 3}]),
    # Flatten straight from the input: the dense kernel's rows must be reordered for NCHW.
    LayerCase("flatten", "flatten", images(4, 5, 3), [
        {"type": "flatten"}, {"type": "dense", "units": 3}]),
    LayerCase("lstm", "lstm", SEQUENCES, [
        {"type": "lstm", "units": 8}, {"type": "dense", "units": 3}], learning_rate=0.5),
    LayerCase("lstm-sequences", "lstm", SEQUENCES, [
        {"type": "lstm", "units": 8, "return_sequences": True},
        {"type": "lstm", "units": 5}, {"type": "dense", "units": 3}], learning_rate=0.5),
]


def case_scenario(case: LayerCase) -> Scenario:
    """The case as a validated scenario: 256 samples, batches of 32, SGD."""
    doc = {
        "name": f"layer-{case.name}",
        "data": {**case.data, "samples": 256, "seed": 3},
        "model": {"layers": case.layers},
        "train": {"optimizer": "sgd", "learning_rate": case.learning_rate, "batch_size": 32,
                  "steps": STEPS, "loss": "cross_entropy"},
    }
    return parse_scenario(doc, f"<layer case {case.name}>")


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_layer_trains_identically_on_both_frameworks(hosts, case):  # noqa: F811
    s = case_scenario(case)
    settings = settings_for(s, threads=1, steps=STEPS)
    pt, tf = losses(hosts["pytorch"], s, settings), losses(hosts["tensorflow"], s, settings)
    rel = rel_diff(pt, tf)
    assert rel[0] < 1e-5, f"step 0: {rel[0]:.2e}"
    assert rel.max() < 1e-4, f"max over {STEPS} steps: {rel.max():.2e} at step {rel.argmax()}"
    # The weights really moved, so the steps after the first compared training, not a constant.
    assert abs(pt[-5:].mean() - pt[0]) > 0.01 * pt[0], f"loss {pt[0]:.4f} -> {pt[-1]:.4f}"
