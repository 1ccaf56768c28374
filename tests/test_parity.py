"""Real PyTorch and TensorFlow: same weights, same batches, same losses (CPU, float32).

One child process per framework serves every scenario, through the same host the app uses.
"""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

from engines import settings_for
from engines.hosting.host import ProcessHost
from engines.hosting.protocol import Event, StepRecord, StepRecords
from scenarios import load_builtins
from scenarios.tokens import loss_floor

pytestmark = pytest.mark.frameworks

SCENARIOS = {s.name: s for s in load_builtins()}


@pytest.fixture(scope="module")
def hosts():
    cancel = threading.Event()
    made = {name: ProcessHost(name, cancel) for name in ("pytorch", "tensorflow")}
    for h in made.values():
        h.start()
    yield made
    for h in made.values():
        h.close()


def losses(host, scenario, settings) -> np.ndarray:
    records: list[StepRecord] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StepRecords):
            records.extend(event.records)

    host.prepare(scenario, settings, on_event)
    assert host.run_slice(settings.steps, math.inf, on_event) is True
    assert [r.step for r in records] == list(range(settings.steps))
    return np.array([r.loss for r in records])


def rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))


def both(hosts, scenario, **overrides):
    settings = settings_for(scenario, threads=1, **overrides)
    return (losses(hosts["pytorch"], scenario, settings),
            losses(hosts["tensorflow"], scenario, settings))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sgd_losses_agree_from_the_first_step(hosts, name):
    pt, tf = both(hosts, SCENARIOS[name], steps=50)
    rel = rel_diff(pt, tf)
    assert rel[0] < 1e-5, f"step 0: {rel[0]:.2e}"
    assert rel.max() < 1e-4, f"max over 50 steps: {rel.max():.2e} at step {rel.argmax()}"


ADAM_BOUND = {"mlp": 5e-3, "lstm": 1e-2, "regression": 1e-3, "cnn": 0.2, "digits": 1e-2}


# The later built-ins (transformer, resnet, gru) are held to the SGD bound only: Adam's known
# difference is not theirs to show, and each Adam run costs CI time.
@pytest.mark.parametrize("name", list(ADAM_BOUND))
def test_adam_agrees_at_step_zero_and_drifts_within_its_stated_bound(hosts, name):
    # Keras's Adam adds epsilon to sqrt(v) before bias correction, torch after: the update
    # differs slightly, and Adam turns near-zero gradients into full-size steps, so tiny
    # round-off differences grow. Measured 50-step maxima: mlp 5e-4, lstm 1.2e-3,
    # regression 5e-5, cnn 7e-2 (dead/near-zero gradients in the conv layers), digits 1.8e-3.
    s = SCENARIOS[name]
    s = dataclasses.replace(s, train=dataclasses.replace(s.train, optimizer="adam",
                                                         learning_rate=1e-3))
    pt, tf = both(hosts, s, steps=50)
    rel = rel_diff(pt, tf)
    assert rel[0] < 1e-5
    assert rel.max() < ADAM_BOUND[name], f"{rel.max():.2e}"


#: Built-ins promised (issue 8) to learn by the README's measure: the mean of the last five
#: losses at least 20 % below the first loss, within the default steps.
LEARN_BY_20_PERCENT = ("transformer", "resnet", "gru")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_loss_falls_clearly_within_the_default_steps(hosts, name):
    s = SCENARIOS[name]
    pt = losses(hosts["pytorch"], s, settings_for(s, threads=1))
    if name in LEARN_BY_20_PERCENT:
        assert pt[-5:].mean() <= 0.8 * pt[0], f"{name}: loss {pt[0]:.3f} -> {pt[-5:].mean():.3f}"
        floor = loss_floor(s.data, s.data.seed)
        if floor is not None:  # token data: towards the entropy rate, not (much) past it
            assert pt[-5:].mean() > floor - 0.1, f"{name}: {pt[-5:].mean():.3f} < {floor:.3f}"
        return
    first, last = pt[:10].mean(), pt[-10:].mean()
    assert last < 0.5 * first, f"{name}: loss {first:.3f} -> {last:.3f}"


def test_tf_function_and_xla_match_eager_pytorch(hosts):
    s = SCENARIOS["mlp"]
    pt = losses(hosts["pytorch"], s, settings_for(s, threads=1, steps=20))
    for mode in ("compiled", "xla"):
        tf = losses(hosts["tensorflow"], s, settings_for(s, threads=1, steps=20, mode=mode))
        assert rel_diff(pt, tf).max() < 1e-4, mode


def test_torch_compile_matches_eager_pytorch(hosts):
    # torch.compile's first step costs ~25 s on a 2-core CPU: one tiny scenario only.
    s = SCENARIOS["regression"]
    eager = losses(hosts["pytorch"], s, settings_for(s, threads=1, steps=5))
    compiled = losses(hosts["pytorch"], s, settings_for(s, threads=1, steps=5, mode="compiled"))
    assert rel_diff(eager, compiled).max() < 1e-4


def test_inference_task_runs_forward_only_and_losses_agree(hosts):
    s = SCENARIOS["cnn"]
    n_batches = s.data.samples // s.train.batch_size
    pt, tf = both(hosts, s, steps=n_batches + 1, task="infer")
    # Forward only: when batch 0 comes round again, its loss is unchanged (weights did not move).
    assert pt[n_batches] == pt[0] and tf[n_batches] == tf[0]
    assert rel_diff(pt, tf).max() < 1e-5
