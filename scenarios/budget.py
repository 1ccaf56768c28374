"""What a run of a scenario costs before it runs: host memory and compute (no framework).

The estimate walks the layer catalogue generically (output shapes, parameters and FLOPs from
`infer_stack`), so a new layer type or data kind is covered without an edit here. Each engine
runs in its own process and builds everything itself, so the memory of one engine process is
counted once per engine:

    per engine = framework + weights + max(data as generated, batches + activations)

* framework: RUNTIME_BYTES, the resident size of an engine process with a tiny model
  (PyTorch or TensorFlow and their libraries; measured, see RUNTIME_BYTES).
* weights: 4 B x parameters x (WEIGHT_COPIES + optimizer copies): numpy draws the initial
  weights in float64 (2 copies' worth), then float32, the framework holds its own copy and
  training keeps the gradients (TensorFlow's build alone peaks at about 5 copies, inference
  too); the optimizer's state and the temporaries of its update add OPTIMIZER_COPIES
  (momentum 2, Adam 4). Measured: a 13 M-parameter MLP peaked at 3.6 (PyTorch) and 4.9
  (TensorFlow) copies with SGD, 7.1 and 8.5 with Adam.
* data as generated: GENERATION_BYTES_PER_VALUE x samples x (input values + target width):
  numpy draws the data set in float64 and its arithmetic keeps temporaries (measured 14-16
  bytes per input value for every data kind), before the float32 data set is cut into batches.
* batches: one epoch of full batches in numpy and the framework's copy of them (float32 inputs,
  int64 labels or float32 targets), 2 copies.
* activations: what the backward pass keeps, per sample, times the batch, 4 B per value, times
  ACTIVATION_COPIES (training: the output, the value before the activation, its gradient and
  a framework temporary; inference: 1). A layer keeps its output; one that applies its weights
  at R positions (R = forward FLOPs / (2 x parameters): the time steps of a recurrent layer)
  keeps R x its output width x STATE_WIDTHS (its per-position state) when that is more. A
  layer type that knows better defines `stored_values(layer, shape, out)` (values per sample)
  in its catalogue entry, and that is used instead.

The generation peak comes first and is freed before training starts, hence the max. Compute:
FLOPs per step from the catalogue (forward, x3 for a training step); the run's time on the CPU
is, per engine and step, the FLOPs at an assumed CPU_FLOPS_PER_THREAD plus STEP_OVERHEAD_S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .layers import CATALOGUE, LayerInfo
from .shapes import flops_per_step, infer_stack
from .spec import Scenario

#: Resident memory of one engine process before any scenario data: the framework and its
#: libraries, and the matrices of the efficiency peak probe (engines.efficiency: up to three
#: 2048 x 2048 float32 matrices, 48 MiB, which stay in the peak RSS). Measured as the peak RSS
#: of a run of the tiny `regression` scenario: PyTorch 310 MiB, TensorFlow 561 MiB (torch 2.13
#: CPU, TensorFlow 2.21) before the probe; TensorFlow's mlp peak with the probe and paired
#: turns was 680 MiB. The larger one, plus the probe, rounded up.
RUNTIME_BYTES = 700 * 2**20
#: Bytes per value while numpy generates a data set (float64 draws and their temporaries).
GENERATION_BYTES_PER_VALUE = 16
#: Copies of the weights' size every run needs (see the module docstring).
WEIGHT_COPIES = 5
#: Copies an optimizer adds: its state and its update's temporaries (unknown: as Adam).
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 2, "adam": 4}
#: Copies of the stored activations: training keeps them for the backward pass.
ACTIVATION_COPIES = {"train": 4, "infer": 1}
#: Values a layer keeps per position, per unit of its output width, where more than 1 (used
#: when its catalogue entry has no `stored_values`): an LSTM keeps its 4 gates, the cell and
#: its tanh at every time step. Measured: an LSTM(256) over 512 steps at batch 128 peaked at
#: 17 (PyTorch) and 22 (TensorFlow) x steps x units x batch x 4 B, against 6 x 4 copies here.
STATE_WIDTHS = {"lstm": 6}
#: The assumed speed of one CPU thread, deliberately low: compute-bound scenarios measured 6
#: to 120 GFLOP/s on one thread (AMD EPYC, mlp, cnn, a 13 M-parameter MLP, a long LSTM).
CPU_FLOPS_PER_THREAD = 1e9
#: The cost of a step besides its FLOPs (framework calls): TensorFlow eager measured 6.7 ms
#: a step on the tiny `regression` scenario, PyTorch 0.14 ms.
STEP_OVERHEAD_S = 0.005
#: A run estimated to take at least this long is warned about.
LONG_RUN_S = 3600.0
_FLOAT = 4  # float32


@dataclass(frozen=True)
class Budget:
    """The estimated cost of one run: memory per engine process by term (bytes), and compute.

    Every figure is an estimate of the peak, not a measurement: see the module docstring.
    """

    engines: int
    runtime: int
    weights: int
    data_generation: int
    batches: int
    activations: int
    flops_per_step: int
    steps: int

    @property
    def per_engine(self) -> int:
        """Bytes one engine process needs at its peak."""
        return self.runtime + self.weights + max(self.data_generation,
                                                 self.batches + self.activations)

    @property
    def total(self) -> int:
        """Bytes every engine together needs (each builds its own copy of everything)."""
        return self.engines * self.per_engine

    @property
    def flops(self) -> int:
        """FLOPs of the whole run, every engine."""
        return self.engines * self.steps * self.flops_per_step

    def seconds(self, threads: int = 1) -> float:
        """The run's estimated time on the CPU: every engine's steps, each its FLOPs at
        CPU_FLOPS_PER_THREAD per thread plus STEP_OVERHEAD_S."""
        per_step = self.flops_per_step / (CPU_FLOPS_PER_THREAD * max(1, threads))
        return self.engines * self.steps * (per_step + STEP_OVERHEAD_S)

    def terms(self) -> dict[str, int]:
        """Each term of one engine process, named as a message says it."""
        return {"data as generated": self.data_generation, "batches": self.batches,
                "weights+gradients+optimizer": self.weights,
                "activations": self.activations, "framework": self.runtime}

    def advice(self) -> str:
        """What to change to need less memory, for the term that weighs most."""
        data = max(self.data_generation, self.batches)
        biggest = max((data, "data"), (self.weights, "weights"),
                      (self.activations, "activations"), (self.runtime, "framework"))[1]
        hint = {
            "data": "use fewer [data].samples or a smaller [data].input_shape",
            "weights": "use fewer units or filters in [model].layers (fewer parameters)",
            "activations": "use a smaller batch size (--batch-size, [train].batch_size) or "
                           "narrower layers",
            "framework": "close other programs",
        }[biggest]
        return hint + (", or run one engine (--engines NAME)" if self.engines > 1 else "")


def stored_values(info: LayerInfo) -> int:
    """Values per sample that a layer keeps for the backward pass (its inner layers too)."""
    own = getattr(CATALOGUE.get(info.layer.type), "stored_values", None)
    if own is not None:  # the layer type knows what it keeps
        out = own(info.layer, info.input_shape, info.output_shape)
        return out + sum(stored_values(i) for i in info.inner)
    out = math.prod(info.output_shape)
    if info.inner:  # a block: its own output, and what each inner layer keeps
        return out + sum(stored_values(i) for i in info.inner)
    if info.params:
        # Weights applied at many positions (the steps of a recurrent layer) keep a state of
        # the output's width per position, which the output shape alone may not show.
        positions = info.flops // (2 * info.params)
        out = max(out, positions * info.output_shape[-1] * STATE_WIDTHS.get(info.layer.type, 1))
    return out


def estimate(scenario: Scenario, batch_size: int | None = None, steps: int | None = None,
             task: str = "train", engines: int = 2, pipeline: str | None = None) -> Budget:
    """The cost of running `scenario` (its own batch size, steps and input pipeline unless
    given). With [input].preprocess, the memory pipeline materialises every epoch the steps
    reach (each has its own crops and flips)."""
    batch = batch_size or scenario.train.batch_size
    data = scenario.data
    infos = infer_stack(scenario.layers, data.input_shape)
    values = math.prod(data.input_shape)
    train = task == "train"
    copies = WEIGHT_COPIES + (OPTIMIZER_COPIES.get(scenario.train.optimizer, 4) if train else 0)
    # Labels of a classified kind are one int64 per sample; targets float32 per output.
    target_bytes = 8 if data.classes else _FLOAT * data.target_width
    used = data.samples // batch * batch  # one epoch of full batches
    spec = scenario.input
    if spec is not None and spec.preprocess and (pipeline or spec.pipeline) == "memory":
        per_epoch = max(1, data.train_samples // batch)
        used *= max(1, math.ceil((steps or scenario.train.steps) / per_epoch))
    return Budget(
        engines=engines,
        runtime=RUNTIME_BYTES,
        weights=_FLOAT * sum(i.params for i in infos) * copies,
        data_generation=GENERATION_BYTES_PER_VALUE * data.samples * (values + data.target_width),
        batches=2 * used * (_FLOAT * values + target_bytes),
        activations=_FLOAT * batch * sum(stored_values(i) for i in infos)
        * ACTIVATION_COPIES["train" if train else "infer"],
        flops_per_step=flops_per_step(infos, batch, train=train),
        steps=steps or scenario.train.steps,
    )
