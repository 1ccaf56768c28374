"""The memory and compute estimate of a run (scenarios.budget), and the check that refuses a
run the machine cannot hold before anything runs (tui.options.check_budget)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios import LayerSpec, flops_per_step, infer_stack, load_builtins, parse_scenario
from scenarios.budget import (
    ACTIVATION_COPIES,
    CPU_FLOPS_PER_THREAD,
    GENERATION_BYTES_PER_VALUE,
    OPTIMIZER_COPIES,
    RUNTIME_BYTES,
    STATE_WIDTHS,
    STEP_OVERHEAD_S,
    WEIGHT_COPIES,
    estimate,
    stored_values,
)
from scenarios.layers import CATALOGUE
from tui import options as options_module
from tui.cli import main, parse_options
from tui.options import BadInput, check_budget
from tui.settings_draft import SettingsDraft
from tui.widgets.scenario_detail import memory_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTINS = {s.name: s for s in load_builtins()}
GiB = 2**30


def doc(**changes) -> dict:
    """A small teacher scenario as a parsed TOML document, with sections changed."""
    d = {"name": "small", "data": {"kind": "teacher", "samples": 512, "input_shape": [20],
                                   "classes": 3},
         "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                              {"type": "dense", "units": 3}]},
         "train": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 32, "steps": 10,
                   "loss": "cross_entropy"}}
    for section, values in changes.items():
        d[section] = {**d[section], **values} if isinstance(values, dict) else values
    return d


@pytest.fixture
def available(monkeypatch):
    """Set the memory the machine has available (bytes) for the check."""
    def set_to(n: int) -> None:
        monkeypatch.setattr(options_module, "available_memory", lambda: n)
    set_to(64 * GiB)
    return set_to


# -- the formula ---------------------------------------------------------------------------------

def test_every_term_of_the_mlp_follows_the_documented_formula():
    mlp = BUILTINS["mlp"]
    b = estimate(mlp)
    params = 784 * 256 + 256 + 256 * 10 + 10
    assert b.weights == 4 * params * WEIGHT_COPIES  # sgd: no optimizer state
    assert b.data_generation == GENERATION_BYTES_PER_VALUE * 4096 * (784 + 10)
    # One epoch of 32 full batches of 128, float32 inputs and int64 labels, numpy + framework.
    assert b.batches == 2 * 4096 * (784 * 4 + 8)
    assert b.activations == 4 * 128 * (256 + 10) * ACTIVATION_COPIES["train"]
    assert b.flops_per_step == flops_per_step(infer_stack(mlp.layers, (784,)), 128)
    assert b.per_engine == RUNTIME_BYTES + b.weights + max(b.data_generation,
                                                           b.batches + b.activations)
    assert b.total == 2 * b.per_engine and b.steps == 300
    assert estimate(mlp, engines=1).total == b.per_engine


def test_optimizer_state_task_batch_and_steps_change_what_they_should():
    base = estimate(parse_scenario(doc(), "s.toml"))
    params = 20 * 16 + 16 + 16 * 3 + 3
    for optimizer, extra in (("momentum", 2), ("adam", 4)):
        s = parse_scenario(doc(train={"optimizer": optimizer}), "s.toml")
        assert OPTIMIZER_COPIES[optimizer] == extra
        assert estimate(s).weights - base.weights == 4 * params * extra
        # Inference keeps no optimizer state and no activations for a backward pass.
        infer = estimate(s, task="infer")
        assert infer.weights == base.weights and infer.activations * 4 == base.activations
        assert infer.flops_per_step * 3 == base.flops_per_step
    s = parse_scenario(doc(), "s.toml")
    assert estimate(s, batch_size=64).activations == 2 * base.activations
    assert estimate(s, steps=1000).flops == 100 * base.flops
    assert estimate(s).seconds(threads=4) == pytest.approx(
        base.flops / 4 / CPU_FLOPS_PER_THREAD + 2 * base.steps * STEP_OVERHEAD_S)


def test_a_recurrent_layer_counts_the_state_of_every_time_step():
    lstm = BUILTINS["lstm"]
    (rec, _) = infer_stack(lstm.layers, lstm.data.input_shape)
    # It outputs only its last state (64), but the backward pass needs all 32 steps'.
    assert rec.output_shape == (64,)
    # Its weights run at 31 positions (the FLOPs say so), each keeping 6 states of 64.
    assert stored_values(rec) == 31 * 64 * STATE_WIDTHS["lstm"]
    longer = parse_scenario(doc(data={"kind": "sequences", "input_shape": [320, 8]},
                                model={"layers": [{"type": "lstm", "units": 64},
                                                  {"type": "dense", "units": 3}]}), "s.toml")
    (rec_long, _) = infer_stack(longer.layers, (320, 8))
    assert stored_values(rec_long) >= 10 * stored_values(rec) - 64


def test_a_layer_type_that_knows_what_it_keeps_is_asked(monkeypatch):
    # Generic: a new layer type is estimated without an edit, and may say better itself.
    dense = CATALOGUE["dense"]
    info = infer_stack((LayerSpec("dense", (("units", 5), ("activation", "linear"),
                                            ("return_sequences", False))),), (7,))[0]
    assert stored_values(info) == 5
    monkeypatch.setattr(type(dense), "stored_values", lambda self, layer, shape, out: 1234,
                        raising=False)
    assert stored_values(info) == 1234


def test_every_builtin_fits_a_small_machine_and_an_engine_alone_halves_it():
    for s in load_builtins():
        b = estimate(s)
        assert 2 * RUNTIME_BYTES < b.total < 2 * GiB, s.name
        assert estimate(s, engines=1).total * 2 == b.total


# -- the check before a run ----------------------------------------------------------------------

def test_a_run_that_cannot_fit_is_refused_with_the_estimate_and_what_to_change(available):
    mlp = BUILTINS["mlp"]
    settings = parse_options(["--fake", "--no-tui", "--scenario", "mlp"]).settings
    need = estimate(mlp, settings.batch_size, settings.steps).total
    available(need - 1)
    with pytest.raises(BadInput) as info:
        check_budget(mlp, settings, 2)
    text = str(info.value)
    for words in ("the run of mlp needs about", "both engines", "data as generated",
                  "activations", "framework", "available", "--engines"):
        assert words in text, words
    available(need)
    assert check_budget(mlp, settings, 2) is None
    assert check_budget(mlp, settings, 1) is None


@pytest.mark.parametrize("section,change,advice", [
    ("data", {"samples": 5_000_000, "input_shape": [4096]}, "fewer [data].samples"),
    ("model", {"layers": [{"type": "dense", "units": 2**16}, {"type": "dense", "units": 3}]},
     "fewer units or filters"),
    ("train", {"batch_size": 512}, "a smaller batch size"),
])
def test_the_advice_names_what_weighs_most(tmp_path, available, section, change, advice):
    d = doc(**{section: change})
    if section == "model":  # weights: a wide layer on wide inputs
        d["data"]["input_shape"] = [4096]
    if section == "train":  # activations: wide layers on a large batch
        d["data"]["samples"] = 1024
        d["model"]["layers"][0]["units"] = 2**19
    s = parse_scenario(d, "s.toml")
    available(estimate(s).total - 1)
    settings = parse_options(["--fake", "--no-tui", "--scenario", "mlp"]).settings.with_(
        batch_size=s.train.batch_size, steps=s.train.steps)
    with pytest.raises(BadInput, match="use " + advice.replace("[", r"\[").replace("]", r"\]")):
        check_budget(s, settings, 2)


def test_a_memory_bomb_exits_2_before_anything_runs_fake_or_real(tmp_path, capsys):
    bomb = tmp_path / "bomb.toml"
    text = (Path(__file__).parent.parent / "scenarios/builtin/mlp.toml").read_text()
    bomb.write_text(text.replace("samples = 4096", "samples = 10000000")
                    .replace("input_shape = [784]", "input_shape = [1048576]"))
    out = tmp_path / "r.json"
    for fake in (["--fake"], []):  # the fake is checked exactly as a real run
        assert main([*fake, "--no-tui", "--scenario-file", str(bomb), "--export", str(out),
                     "--no-save"]) == 2
        err = capsys.readouterr().err
        assert "needs about" in err and "TiB" in err and "Traceback" not in err
        assert not out.exists()
    # The app with the file on its dashboard and --snapshot refuse it the same way.
    assert main(["--fake", "--scenario-file", str(bomb), "--snapshot",
                 str(tmp_path / "x.svg")]) == 2
    assert "needs about" in capsys.readouterr().err


def test_a_run_estimated_to_take_hours_is_warned_about_on_the_command_line(available, capsys):
    opts = parse_options(["--fake", "--no-tui", "--scenario", "cnn", "--steps", "500000",
                          "--threads", "1"])
    assert opts.command == "headless"  # a warning, not a refusal
    err = capsys.readouterr().err
    assert err.startswith("warning: the run of cnn is estimated to take about")
    assert "GFLOP/s per thread" in err and "--steps" in err
    parse_options(["--fake", "--no-tui", "--scenario", "cnn", "--steps", "50"])
    assert capsys.readouterr().err == ""
    # --repeat runs the whole comparison K times: K times as long.
    line = ["--fake", "--no-tui", "--scenario", "cnn", "--steps", "400", "--threads", "1"]
    parse_options(line)
    assert capsys.readouterr().err == ""
    parse_options([*line, "--repeat", "10"])
    assert "estimated to take" in capsys.readouterr().err


def test_the_picker_says_why_it_will_not_run_and_shows_the_estimate(available):
    mlp = BUILTINS["mlp"]
    draft = SettingsDraft({"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"})
    settings, why = draft.resolve(mlp)
    assert why is None
    assert memory_line(mlp, settings) == "≈ 1.47 GiB for both engines"
    available(GiB)
    settings, why = draft.resolve(mlp)
    assert settings is None and "needs about 1.47 GiB" in why
    # One engine alone fits.
    draft.engine_choice = "pytorch"
    assert draft.resolve(mlp)[1] is None
    draft.overrides["steps"] = 500_000
    assert "to run at 1 GFLOP/s per thread" in memory_line(mlp, draft.resolve(mlp)[0])


@pytest.mark.timeout(60)
async def test_the_picker_does_not_start_a_run_that_cannot_fit_and_says_why(available):
    from tui.screens.picker import PickerScreen
    from tui.testing import app_for, screen_text, settle
    from tui.widgets.run_settings_form import RunSettingsForm

    available(GiB)  # mlp needs about 1.47 GiB with both engines
    app = app_for("--in-process", "--no-telemetry", prewarm=False)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        form = app.screen.query_one(RunSettingsForm)
        assert "needs about 1.47 GiB" in (form.error or "")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)  # not started
        assert "needs about" in screen_text(app)
        rows = [r.key for r in app.draft.rows]
        # engines: both -> PyTorch alone
        await pilot.press("s", *["down"] * rows.index("engines"), "right")
        await settle(pilot)
        assert form.error is None and "memory ≈ 1.47 GiB" in screen_text(app)


# -- measured: the estimate against the engines' real peak memory ---------------------------------

LONG_LSTM = """
name = "long-lstm"
[data]
kind = "sequences"
samples = 256
input_shape = [256, 8]
classes = 4
[model]
layers = [{ type = "lstm", units = 256 }, { type = "dense", units = 4 }]
[train]
optimizer = "sgd"
learning_rate = 0.1
batch_size = 128
steps = 4
loss = "cross_entropy"
"""


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["mlp", "cnn", "long-lstm"])
def test_the_estimate_is_above_each_engines_measured_peak(tmp_path, name):
    if name == "long-lstm":  # activations dominate: the state of every time step
        path = tmp_path / "long.toml"
        path.write_text(LONG_LSTM)
        which, steps = ["--scenario-file", str(path)], 4
        scenario = parse_scenario(tomllib.loads(LONG_LSTM), str(path))
    else:
        which, steps, scenario = ["--scenario", name], 30, BUILTINS[name]
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "tui", "--no-tui", *which, "--steps",
                           str(steps), "--warmup-steps", "1", "--threads", "1", "--no-save",
                           "--no-telemetry", "--export", str(out)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    engines = json.loads(out.read_text())["engines"]
    per_engine = estimate(scenario, steps=steps).per_engine
    for engine, result in engines.items():
        peak = result["memory"]["host_peak_rss"]
        # An upper bound, but not a wild one.
        assert peak < per_engine < 3 * peak, (engine, peak, per_engine)
    assert math.isfinite(per_engine)
