"""Framework-neutral scenarios: specs, TOML loading and validation, synthetic data, weights.

Layer types come from the layer catalogue (scenarios.layers), one module per type; token
data (scenarios.tokens) knows its loss floor.

Imports neither TensorFlow, PyTorch nor Textual.
"""

from .data import Batches, make_batches, make_dataset, make_holdout
from .dropout import has_active_dropout
from .loader import discover, find, load_builtins, load_scenario, parse_scenario
from .shapes import LayerInfo, flops_per_step, infer_stack, total_params
from .spec import DataSpec, LayerSpec, Scenario, ScenarioError, TrainSpec
from .tokens import loss_floor
from .weights import LayerWeights, initial_weights

__all__ = [
    "Batches", "DataSpec", "LayerInfo", "LayerSpec", "LayerWeights", "Scenario", "ScenarioError",
    "TrainSpec", "discover", "find", "flops_per_step", "has_active_dropout", "infer_stack",
    "initial_weights", "load_builtins", "load_scenario", "loss_floor", "make_batches",
    "make_dataset", "make_holdout", "parse_scenario", "total_params",
]
