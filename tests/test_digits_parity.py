"""Real PyTorch and TensorFlow on the shipped digits: the built-in learns, and held-out
evaluations (forward only, inference mode) agree between the frameworks like training losses.

CPU, float32, SGD, one thread, through the same ProcessHost the app uses (one child per
framework for this module, shared with tests/test_parity.py's fixture)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_parity import hosts, rel_diff  # noqa: F401  (hosts is a fixture)

from engines import settings_for
from engines.hosting.protocol import Evaluation, Event, StepRecords
from engines.results.verdicts import evaluation_parity
from scenarios import find, load_builtins, parse_scenario

pytestmark = pytest.mark.frameworks


def run(host, scenario, settings) -> tuple[np.ndarray, list[Evaluation]]:
    """Every step's loss and every evaluation of one engine."""
    losses: list[float] = []
    evaluations: list[Evaluation] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StepRecords):
            losses.extend(r.loss for r in event.records)
        elif isinstance(event, Evaluation):
            evaluations.append(event)

    host.prepare(scenario, settings, on_event)
    assert host.run_slice(settings.steps, math.inf, on_event) is True
    return np.array(losses), evaluations


def both(hosts, scenario, **overrides):  # noqa: F811
    settings = settings_for(scenario, threads=1, **overrides)
    return run(hosts["pytorch"], scenario, settings), run(hosts["tensorflow"], scenario, settings)


def test_the_digits_builtin_learns_and_both_engines_evaluate_alike(hosts):  # noqa: F811
    s = find("digits", load_builtins())
    (pt, ept), (tf, etf) = both(hosts, s)  # its default 600 steps
    rel = rel_diff(pt, tf)
    assert rel[0] < 1e-5 and rel[:50].max() < 1e-4, f"{rel[:50].max():.2e}"
    assert rel.max() < 2e-2, f"whole run {rel.max():.2e} at step {rel.argmax()}"
    for losses in (pt, tf):  # the bar: last five at least 20 % below the first
        last = losses[-5:].mean()
        assert last <= 0.8 * losses[0], f"{losses[0]:.3f} -> {last:.3f}"
    assert [e.step for e in ept] == list(range(50, 601, 50)) == [e.step for e in etf]
    held = evaluation_parity(ept, etf, "sgd")
    assert held["within_tolerance"] is True and held["max_rel_loss_diff"] < 1e-4, held
    for evaluations in (ept, etf):
        assert evaluations[-1].accuracy > 0.9 > evaluations[0].accuracy - 0.5
        assert evaluations[-1].loss < evaluations[0].loss


CNN = [
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
]


def test_digits_as_images_train_and_evaluate_alike_through_nchw(hosts):  # noqa: F811
    s = parse_scenario({
        "name": "digits-cnn", "data": {"kind": "digits", "input_shape": [8, 8, 1]},
        "model": {"layers": CNN},
        "train": {"optimizer": "sgd", "learning_rate": 0.05, "batch_size": 32, "steps": 50,
                  "loss": "cross_entropy", "eval_every": 25},
    }, "digits-cnn")
    (pt, ept), (tf, etf) = both(hosts, s)
    rel = rel_diff(pt, tf)
    assert rel[0] < 1e-5 and rel.max() < 1e-4, f"{rel.max():.2e}"
    held = evaluation_parity(ept, etf, "sgd")
    assert held["evaluations_compared"] == 2 and held["max_rel_loss_diff"] < 1e-5, held
    assert [e.accuracy for e in ept] == [e.accuracy for e in etf]


def test_a_regression_evaluates_its_loss_alone(hosts):  # noqa: F811
    s = parse_scenario({
        "name": "reg", "data": {"kind": "regression", "samples": 512, "input_shape": [8],
                                "holdout": 0.25},
        "model": {"layers": [{"type": "dense", "units": 16, "activation": "tanh"},
                             {"type": "dense", "units": 1}]},
        "train": {"optimizer": "sgd", "learning_rate": 0.05, "batch_size": 64, "steps": 30,
                  "loss": "mse", "eval_every": 10},
    }, "reg")
    (_, ept), (_, etf) = both(hosts, s)
    assert [e.step for e in ept] == [10, 20, 30] and all(e.accuracy is None for e in ept + etf)
    held = evaluation_parity(ept, etf, "sgd")
    assert held["max_rel_loss_diff"] < 1e-5 and held["max_abs_accuracy_diff"] is None
