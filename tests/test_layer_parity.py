"""Per layer type: a minimal model around it trains identically on PyTorch and TensorFlow.

CASES is the table that tests/test_catalogue.py checks: every catalogue type needs a case.
Real frameworks, CPU, float32, SGD, one thread, through the same ProcessHost the app uses
(one child per framework for this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
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


#: Token data: next-token targets at every position (the loss is over all of them).
TOKENS = {"kind": "tokens", "vocab": 12, "seq_len": 6}


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
    # Integer padding: symmetric on both (TensorFlow's 'same' would pad stride 2 unevenly).
    LayerCase("conv2d-pad1-stride2", "conv2d", images(8, 8, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": 1,
         "activation": "relu"},
        {"type": "flatten"}, {"type": "dense", "units": 3}]),
    # conv1d along time, batch norm over a sequence's features, the mean over time.
    LayerCase("conv1d", "conv1d", SEQUENCES, [
        {"type": "conv1d", "filters": 6, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "batchnorm", "momentum": 0.9},
        {"type": "activation", "activation": "relu"},
        {"type": "conv1d", "filters": 5, "kernel_size": 3, "padding": "same"},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 3}], learning_rate=0.5),
    LayerCase("avgpool2d", "avgpool2d", images(8, 8, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same",
         "activation": "relu"},
        {"type": "avgpool2d", "pool_size": 2}, {"type": "flatten"},
        {"type": "dense", "units": 3}]),
    LayerCase("global_avg_pool", "global_avg_pool", images(6, 6, 2), [
        {"type": "conv2d", "filters": 6, "kernel_size": 3, "activation": "tanh"},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 3}], learning_rate=0.5),
    # softmax over an image's channels (dimension 1 in PyTorch's NCHW), exact gelu.
    LayerCase("activation", "activation", images(4, 4, 3), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "activation", "activation": "softmax"}, {"type": "flatten"},
        {"type": "dense", "units": 8}, {"type": "activation", "activation": "gelu"},
        {"type": "dense", "units": 3, "activation": "softmax"}], learning_rate=0.5),
    # Rate 0: exact. Masks differ between frameworks; inference without dropout is checked in
    # test_normalisation_parity.py.
    LayerCase("dropout", "dropout", FLAT, [
        {"type": "dense", "units": 16, "activation": "relu"}, {"type": "dropout", "rate": 0.0},
        {"type": "dense", "units": 3}], learning_rate=0.5),
    # Over an NCHW image's channels and over a vector's features.
    LayerCase("batchnorm", "batchnorm", images(6, 6, 2), [
        {"type": "conv2d", "filters": 4, "kernel_size": 3},
        {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
        {"type": "flatten"}, {"type": "dense", "units": 8},
        {"type": "batchnorm", "momentum": 0.5, "epsilon": 1e-5},
        {"type": "dense", "units": 3}]),
    # Over an image's channels (NHWC's last axis) and over a vector.
    LayerCase("layernorm", "layernorm", images(4, 4, 3), [
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
        {"type": "layernorm"}, {"type": "flatten"},
        {"type": "dense", "units": 8, "activation": "relu"},
        {"type": "layernorm", "epsilon": 1e-3}, {"type": "dense", "units": 3}],
        learning_rate=0.05),
    # Dense per position: logits [T, vocab].
    LayerCase("embedding", "embedding", TOKENS, [
        {"type": "embedding", "dim": 8}, {"type": "dense", "units": 12}], learning_rate=1.0),
    LayerCase("position_embedding", "position_embedding", TOKENS, [
        {"type": "embedding", "dim": 8}, {"type": "position_embedding"},
        {"type": "dense", "units": 16, "activation": "tanh"}, {"type": "dense", "units": 12}],
        learning_rate=1.0),
    LayerCase("attention-causal", "attention", TOKENS, [
        {"type": "embedding", "dim": 8}, {"type": "position_embedding"},
        {"type": "attention", "heads": 2, "causal": True}, {"type": "dense", "units": 12}],
        learning_rate=1.0),
    LayerCase("attention", "attention", {**SEQUENCES, "input_shape": [5, 6]}, [
        {"type": "attention", "heads": 3}, {"type": "flatten"}, {"type": "dense", "units": 3}],
        learning_rate=0.5),
    LayerCase("gru", "gru", SEQUENCES, [
        {"type": "gru", "units": 8}, {"type": "dense", "units": 3}], learning_rate=0.5),
    LayerCase("gru-sequences", "gru", SEQUENCES, [
        {"type": "gru", "units": 8, "return_sequences": True},
        {"type": "gru", "units": 5}, {"type": "dense", "units": 3}], learning_rate=0.5),
    # Identity shortcuts, nested two deep, on vectors.
    LayerCase("residual-nested", "residual", FLAT, [
        {"type": "residual", "layers": [
            {"type": "dense", "units": 16, "activation": "relu"},
            {"type": "residual", "layers": [{"type": "dense", "units": 16, "activation": "tanh"}]},
            {"type": "dense", "units": 12}]},
        {"type": "dense", "units": 3}], learning_rate=0.2),
    # A stride-2 block with a 1x1 projection, batch norm inside, then an identity block.
    LayerCase("residual-project-stride2", "residual", images(8, 8, 2), [
        {"type": "residual", "shortcut": "project", "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": 1},
            {"type": "batchnorm", "momentum": 0.9}, {"type": "activation", "activation": "relu"},
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}]},
        {"type": "residual", "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same",
             "activation": "relu"}]},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 3}], learning_rate=0.2),
    # A dense projection per position of a sequence.
    LayerCase("residual-project-dense", "residual", SEQUENCES, [
        {"type": "residual", "shortcut": "project", "layers": [
            {"type": "dense", "units": 8, "activation": "gelu"}]},
        {"type": "flatten"}, {"type": "dense", "units": 3}], learning_rate=0.5),
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


def _tiny(name: str, layers: list[dict[str, Any]], batch_size: int) -> Scenario:
    return parse_scenario({
        "name": name, "data": {**FLAT, "samples": 64, "seed": 5}, "model": {"layers": layers},
        "train": {"optimizer": "sgd", "learning_rate": 0.2, "batch_size": batch_size,
                  "steps": 20, "loss": "cross_entropy"}}, f"<{name}>")


# Small batches (n = 8: PyTorch's unbiased running variance would be 8/7 of Keras's biased
# one) and a fast-moving running average, so the statistics the inference uses are the
# training batches' own.
BATCHNORM = [{"type": "dense", "units": 8}, {"type": "batchnorm", "momentum": 0.5},
             {"type": "activation", "activation": "relu"}, {"type": "dense", "units": 3}]


@pytest.mark.frameworks
def test_batchnorm_running_statistics_agree_in_inference_after_training(hosts):  # noqa: F811
    s = _tiny("batchnorm-running", BATCHNORM, batch_size=8)
    settings = settings_for(s, threads=1, steps=20)
    pt, tf = losses(hosts["pytorch"], s, settings), losses(hosts["tensorflow"], s, settings)
    assert rel_diff(pt, tf).max() < 1e-4
    # After training, both models in inference: the running mean and variance normalise.
    out_pt, out_tf = hosts["pytorch"].outputs(0), hosts["tensorflow"].outputs(0)
    gap = np.abs(out_pt - out_tf).max() / np.abs(out_tf).max()
    assert gap < 1e-5, f"outputs with running statistics differ by {gap:.2e} (relative)"


@pytest.mark.frameworks
@pytest.mark.parametrize("layers", [
    BATCHNORM,
    [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dropout", "rate": 0.5},
     {"type": "dense", "units": 3}],
], ids=["batchnorm", "dropout"])
def test_task_infer_uses_running_statistics_and_no_dropout(hosts, layers):  # noqa: F811
    # --task infer: batch norm with its running statistics (not the batch's), dropout off, on
    # both sides; forward only, so a batch's loss is the same when it comes round again.
    s = _tiny("infer", layers, batch_size=16)
    n_batches = s.data.samples // 16
    settings = settings_for(s, threads=1, steps=n_batches + 1, task="infer")
    pt, tf = losses(hosts["pytorch"], s, settings), losses(hosts["tensorflow"], s, settings)
    assert pt[n_batches] == pt[0] and tf[n_batches] == tf[0]
    assert rel_diff(pt, tf).max() < 1e-5
