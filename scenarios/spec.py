"""Framework-neutral scenario specification: data, model layers, training settings.

A layer is a `LayerSpec` from the layer catalogue (scenarios.layers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The layer vocabulary lives in the catalogue; re-exported here, where it always was.
from .layers import ACTIVATIONS, LAYER_TYPES, LayerSpec, TokenIds  # noqa: F401

DATA_KINDS = ("teacher", "images", "sequences", "regression", "digits", "tokens")
# The held-out fraction where [data].holdout is not given: real data sets keep a fifth out of
# training, so their evaluations measure generalisation; synthetic data keeps none.
DEFAULT_HOLDOUT = {"digits": 0.2}
OPTIMIZERS = ("sgd", "momentum", "adam")
LOSSES = ("cross_entropy", "mse")

# Documented maxima of the counts a scenario (and the command line) sets. Whether a run fits
# the machine is the memory estimate's business (scenarios.budget); these only keep every
# value sane, so that no size computed from them overflows and no run is endless.
MAX_SAMPLES = 10_000_000
#: Steps per engine: a longer run's saved file (about 150 bytes per step and engine) would
#: exceed what the saved-runs reader accepts (256 MiB).
MAX_STEPS = 500_000
MAX_BATCH_SIZE = 2**20
#: Seeds seed numpy's generators, which take non-negative integers.
MAX_SEED = 2**32 - 1


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
    """A seeded data set (synthetic, or a shipped real one): what the inputs look like, how
    they are labelled, and the fraction `holdout` kept out of training for evaluation.

    Token data (kind "tokens") has a vocabulary and sequences of `input_shape` = [seq_len]
    token ids, carried as a TokenIds shape so that the model's embedding knows the vocabulary.
    """

    kind: str
    samples: int
    input_shape: tuple[int, ...]
    classes: int | None = None
    outputs: int | None = None
    seed: int = 0
    noise: float = 0.5
    holdout: float = 0.0
    vocab: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "tokens":
            object.__setattr__(self, "input_shape", TokenIds(self.input_shape, self.vocab))

    @property
    def target_width(self) -> int:
        """Width of the model's last layer that this data needs."""
        if self.kind == "tokens":
            return self.vocab
        return self.classes if self.kind != "regression" else (self.outputs or 1)

    @property
    def holdout_samples(self) -> int:
        """Samples kept out of training (the held-out split evaluations use)."""
        return int(round(self.holdout * self.samples))

    @property
    def train_samples(self) -> int:
        """Samples the training batches are cut from."""
        return self.samples - self.holdout_samples

    @property
    def target_shape(self) -> tuple[int, ...]:
        """The model's output shape per sample that this data needs: a logit per token of the
        vocabulary at every position for tokens, one vector otherwise."""
        if self.kind == "tokens":
            return (*self.input_shape, self.vocab)
        return (self.target_width,)


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
    # Evaluate on the held-out split after every `eval_every` steps (and after the last).
    eval_every: int | None = None


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
    # The [input] section (scenarios.input.InputSpec); None: none (batches in memory).
    input: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain JSON-able data (used in exports)."""
        d = asdict(self)
        d["data"]["input_shape"] = list(self.data.input_shape)
        if self.data.vocab is None:  # exports of data without a vocabulary stay as they were
            d["data"].pop("vocab")
        d["layers"] = [layer.to_dict() for layer in self.layers]
        d.pop("extra", None)
        d.pop("input", None)
        if self.input is not None:  # absent from exports of scenarios without an [input]
            d["input"] = self.input.to_dict()
        # Fields added later are left out at their "off" value, so a scenario that does not
        # use them exports exactly as before (saved runs still compare as the same scenario).
        if not self.data.holdout:
            d["data"].pop("holdout")
        if self.train.eval_every is None:
            d["train"].pop("eval_every")
        return d
