"""Framework-neutral scenario specification: data, model layers, training settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DATA_KINDS = ("teacher", "images", "sequences", "regression")
LAYER_TYPES = ("dense", "conv2d", "maxpool2d", "flatten", "lstm")
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "adam")
LOSSES = ("cross_entropy", "mse")


class ScenarioError(ValueError):
    """A scenario that cannot run, with the file and field that are wrong."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.detail = message
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class DataSpec:
    """Synthetic, seeded data set: what the inputs look like and how they are labelled."""

    kind: str
    samples: int
    input_shape: tuple[int, ...]
    classes: int | None = None
    outputs: int | None = None
    seed: int = 0
    noise: float = 0.5

    @property
    def target_width(self) -> int:
        """Width of the model's last layer that this data needs."""
        return self.classes if self.kind != "regression" else (self.outputs or 1)


@dataclass(frozen=True)
class LayerSpec:
    """One layer; fields that do not apply to its type are None."""

    type: str
    units: int | None = None
    filters: int | None = None
    kernel_size: int | None = None
    stride: int | None = None
    padding: str | None = None
    pool_size: int | None = None
    activation: str = "linear"
    return_sequences: bool = False

    def describe(self) -> str:
        """A short human description such as 'conv2d 16@3x3 same relu'."""
        t = self.type
        if t == "dense":
            text = f"dense {self.units}"
        elif t == "conv2d":
            text = f"conv2d {self.filters}@{self.kernel_size}x{self.kernel_size} s{self.stride} {self.padding}"
        elif t == "maxpool2d":
            text = f"maxpool2d {self.pool_size}x{self.pool_size}"
        elif t == "lstm":
            text = f"lstm {self.units}" + (" seq" if self.return_sequences else "")
        else:
            text = t
        if self.activation != "linear":
            text += f" {self.activation}"
        return text


@dataclass(frozen=True)
class TrainSpec:
    """Optimiser, loss and run length."""

    optimizer: str
    learning_rate: float
    batch_size: int
    steps: int
    loss: str
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-7


@dataclass(frozen=True)
class Scenario:
    """A whole comparison scenario, as loaded and validated from TOML."""

    name: str
    description: str
    data: DataSpec
    layers: tuple[LayerSpec, ...]
    train: TrainSpec
    source: str = "<builtin>"
    builtin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain JSON-able data (used in exports)."""
        d = asdict(self)
        d["data"]["input_shape"] = list(self.data.input_shape)
        d["layers"] = [
            {k: v for k, v in asdict(layer).items() if v is not None} for layer in self.layers
        ]
        d.pop("extra", None)
        return d
