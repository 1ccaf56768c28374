"""Framework-neutral scenarios: specs, TOML loading and validation, synthetic data, weights.

Layer types come from the layer catalogue (scenarios.layers), one module per type; token
data (scenarios.tokens) knows its loss floor.

Imports neither TensorFlow, PyTorch nor Textual. The names below load on first use (PEP 562),
so reading scenario files never imports the data and weight makers (start-up, issue 12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_EXPORTS = {
    "Batches": ".data", "make_batches": ".data", "make_dataset": ".data",
    "make_holdout": ".data",
    "has_active_dropout": ".dropout",
    "discover": ".loader", "find": ".loader", "load_builtins": ".loader",
    "load_scenario": ".loader", "parse_scenario": ".loader",
    "LayerInfo": ".shapes", "flops_per_step": ".shapes", "infer_stack": ".shapes",
    "total_params": ".shapes",
    "DataSpec": ".spec", "LayerSpec": ".spec", "Scenario": ".spec", "ScenarioError": ".spec",
    "TrainSpec": ".spec",
    "loss_floor": ".tokens",
    "LayerWeights": ".weights", "initial_weights": ".weights",
}

__all__ = [
    "Batches", "DataSpec", "LayerInfo", "LayerSpec", "LayerWeights", "Scenario", "ScenarioError",
    "TrainSpec", "discover", "find", "flops_per_step", "has_active_dropout", "infer_stack",
    "initial_weights", "load_builtins", "load_scenario", "loss_floor", "make_batches",
    "make_dataset", "make_holdout", "parse_scenario", "total_params",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .data import Batches, make_batches, make_dataset, make_holdout
    from .dropout import has_active_dropout
    from .loader import discover, find, load_builtins, load_scenario, parse_scenario
    from .shapes import LayerInfo, flops_per_step, infer_stack, total_params
    from .spec import DataSpec, LayerSpec, Scenario, ScenarioError, TrainSpec
    from .tokens import loss_floor
    from .weights import LayerWeights, initial_weights
