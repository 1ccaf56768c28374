"""Options: the command line checked once into one frozen value (no run, no Textual)."""

from __future__ import annotations

import dataclasses

import pytest

from tui.cli import parse_options
from tui.options import BadInput
from tui.paths import peak_cache_dir


def test_the_app_with_no_scenario_starts_the_picker_from_what_the_user_set():
    opts = parse_options(["--fake", "--steps", "50", "--mode", "compiled", "--in-process",
                          "--fault", "tensorflow=slow"])
    assert opts.command == "app" and opts.scenario is None
    assert opts.engines == {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
    # Only what the line set is an override; "train" is the default task, so it is not.
    assert opts.overrides == {"steps": 50, "mode": "compiled"}
    assert opts.fixed == {"isolation": "thread", "faults": {"tensorflow": "slow"},
                          "peak_cache": str(peak_cache_dir()), "measure_peak": False}
    assert opts.settings is not None and opts.settings.steps == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.command = "headless"  # type: ignore[misc]


def test_headless_options_carry_the_scenario_its_settings_and_the_end_of_run_choices(tmp_path):
    export = str(tmp_path / "r.json")
    opts = parse_options(["--no-tui", "--scenario", "regression", "--until-stable", "--repeat",
                          "3", "--no-save", "--no-telemetry", "--export", export])
    assert opts.command == "headless" and opts.scenario.name == "regression"
    # --until-stable without --steps: at most ten times the scenario's steps.
    assert opts.settings.steps == 10 * opts.scenario.train.steps
    assert (opts.until_confident, opts.repeat, opts.export) == (5.0, 3, export)
    assert not opts.save_runs and not opts.telemetry and opts.matrix_modes == ()


def test_matrix_modes_always_start_with_the_eager_baseline():
    opts = parse_options(["--matrix", "--scenario", "mlp", "--matrix-modes", "xla,compiled"])
    assert opts.command == "headless" and opts.matrix_modes == ("eager", "xla", "compiled")


def test_listing_commands_check_nothing_else():
    assert parse_options(["--list", "--steps", "0"]).command == "list"
    assert parse_options(["--list-runs", "--engines", "jax"]).command == "list-runs"
    opts = parse_options(["--compare", "a.json", "b.json", "--repeat", "0"])
    assert opts.command == "compare" and opts.compare == ("a.json", "b.json")


@pytest.mark.parametrize("argv,words", [
    (["--scenario", "mlp", "--snapshot", "x.svg", "--size", "79x30"], "--size: at least 80x24"),
    (["--scenario", "mlp", "--snapshot", "x.png"], "ending in .svg"),
    (["--steps", "0"], "--steps: expected a positive integer"),
    (["--matrix", "--scenario", "mlp", "--repeat", "2"], "cannot be combined"),
    (["--engines", "pytorch,pytorch"], "named twice"),
])
def test_every_refusal_is_bad_input_before_anything_runs(argv, words):
    with pytest.raises(BadInput, match=words):
        parse_options(argv)
