"""The [input] section: validation (file + field + expectation), settings and command line,
the numpy draws and reference both pipelines must reproduce. No framework."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from engines.settings import settings_for
from scenarios import ScenarioError, load_builtins, load_scenario
from scenarios.input import (
    epoch_draws,
    memory_batches,
    raw_samples,
    reference_batch,
)
from tui.cli import main

BASE = """
name = "aug"
[data]
kind = "digits"
input_shape = [8, 8, 1]
[model]
layers = [{ type = "flatten" }, { type = "dense", units = 10 }]
[train]
optimizer = "sgd"
learning_rate = 0.1
batch_size = 32
steps = 10
loss = "cross_entropy"
"""


def scenario_file(tmp_path, input_section: str):
    path = tmp_path / "aug.toml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(input_section))
    return path


def refusal(tmp_path, input_section: str) -> ScenarioError:
    path = scenario_file(tmp_path, input_section)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    return info.value


@pytest.mark.parametrize("section, field, words", [
    ('[input]\npreprocess = [{ op = "blur" }]\n', "[input].preprocess[0].op",
     "expected one of random_crop | flip_left_right | normalize, got 'blur'"),
    ('[input]\npreprocess = [{ op = "random_crop", size = [12, 12], pad = 1 }]\n',
     "[input].preprocess[0].size", "larger than the image (8x8, padded by 1 on each side: 10x10)"),
    ('[input]\nworkers = -1\n', "[input].workers",
     'expected "auto" or an integer from 0 to 64, got -1'),
    ('[input]\nprefetch = 0\n', "[input].prefetch", "expected \"auto\" or an integer from 1"),
    ('[input]\npipeline = "fast"\n', "[input].pipeline", "expected one of memory | native | naive"),
    ('[input]\nspeed = 1\n', "[input].speed", "unknown field in [input]"),
    ('[input]\npreprocess = [{ op = "normalize", std = 0 }]\n', "[input].preprocess[0].std",
     "expected a number from 1e-6 to 1e6"),
    ('[input]\npreprocess = [{ op = "normalize" }, { op = "normalize" }]\n',
     "[input].preprocess[1].op", "appears twice"),
    ('[input]\npreprocess = [{ op = "flip_left_right", probability = 2 }]\n',
     "[input].preprocess[0].probability", "expected a number from 0 to 1"),
    ('[input]\npreprocess = [{ op = "random_crop", size = [6, 6] }]\n',
     "[input].preprocess[0].size", "crop to that size"),
    ('[input]\npreprocess = "normalize"\n', "[input].preprocess", "expected a list of op tables"),
    ('[input]\npreprocess = [3]\n', "[input].preprocess[0]", "expected an op table"),
])
def test_bad_input_sections_are_refused_naming_file_field_and_expectation(
        tmp_path, section, field, words):
    err = refusal(tmp_path, section)
    assert err.field == field
    assert words in str(err)


def test_crop_and_flip_need_images(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text(textwrap.dedent(BASE).replace("[8, 8, 1]", "[64]")
                    + '[input]\npreprocess = [{ op = "flip_left_right" }]\n')
    with pytest.raises(ScenarioError, match="needs image data"):
        load_scenario(path)


def test_a_good_section_loads_and_sets_the_run_settings(tmp_path):
    s = load_scenario(scenario_file(tmp_path, """
        [input]
        pipeline = "naive"
        preprocess = [
          { op = "random_crop", size = [8, 8], pad = 2 },
          { op = "normalize", mean = 0.5, std = 0.25 },
        ]
        workers = 1
        prefetch = 3
    """))
    assert [op.op for op in s.input.preprocess] == ["random_crop", "normalize"]
    settings = settings_for(s)
    assert (settings.input_pipeline, settings.loader_workers, settings.loader_prefetch) == \
        ("naive", 1, 3)
    assert settings.to_dict()["input"] == {"pipeline": "naive", "workers": 1, "prefetch": 3}
    # The line wins over the file.
    assert settings_for(s, input_pipeline="memory").input_pipeline == "memory"
    assert s.to_dict()["input"]["preprocess"][0] == {"op": "random_crop", "size": [8, 8],
                                                     "pad": 2}


def test_scenarios_without_input_export_as_before():
    mlp = next(s for s in load_builtins() if s.name == "mlp")
    assert "input" not in mlp.to_dict()
    assert settings_for(mlp).to_dict()["input"] == {"pipeline": "memory", "workers": "auto",
                                                    "prefetch": "auto"}


def augmented():
    return next(s for s in load_builtins() if s.name == "cnn-augmented")


def test_draws_depend_on_seed_and_epoch_only():
    s = augmented()
    a, b = epoch_draws(s.input, s.data, 0, 3), epoch_draws(s.input, s.data, 0, 3)
    assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.flips, b.flips)
    other = epoch_draws(s.input, s.data, 0, 4)
    assert not np.array_equal(a.offsets, other.offsets)
    assert a.offsets.min() >= 0 and a.offsets.max() <= 4  # pad 2 on each side of 8
    assert 0.3 < a.flips.mean() < 0.7


def test_reference_applies_crop_flip_and_normalize():
    s = augmented()
    raw = raw_samples(s.data, 32, 0)
    assert raw.x.dtype == np.uint8 and raw.x.max() == 16
    x, y = reference_batch(raw, s.input, s.data, 0, 0)
    draws = epoch_draws(s.input, s.data, 0, 0)
    i = raw.order[0]
    img = np.pad(raw.x[i].astype(np.float32) / 16, ((2, 2), (2, 2), (0, 0)))
    oy, ox = draws.offsets[i]
    img = img[oy:oy + 8, ox:ox + 8]
    if draws.flips[i]:
        img = img[:, ::-1]
    np.testing.assert_array_equal(x[0], (img - np.float32(0.3)) / np.float32(0.4))
    assert y[0] == raw.y[i]
    # The memory pipeline materialises the same batches, epoch after epoch.
    batches = memory_batches(s, 32, 0, 100)
    np.testing.assert_array_equal(batches.x[0], x)
    assert len(batches) >= 100
    np.testing.assert_array_equal(batches.x[raw.batches_per_epoch],
                                  reference_batch(raw, s.input, s.data, 0,
                                                  raw.batches_per_epoch)[0])


@pytest.mark.parametrize("argv, words", [
    (["--loader-workers", "-1"], 'expected "auto" or an integer from 0 to 64, got -1'),
    (["--loader-workers", "two"], "--loader-workers: expected \"auto\""),
    (["--input", "memory", "--loader-sweep"], "--loader-sweep: the loader sweep measures"),
])
def test_bad_loader_options_exit_2_before_anything_runs(capsys, argv, words):
    code = main(["--scenario", "cnn-augmented", "--no-tui", "--fake", *argv])
    assert code == 2
    assert words in capsys.readouterr().err


def test_loader_sweep_is_headless_only(capsys):
    assert main(["--scenario", "cnn-augmented", "--fake", "--loader-sweep"]) == 2
    assert "add --no-tui" in capsys.readouterr().err


def test_the_memory_estimate_counts_every_preprocessed_epoch():
    from scenarios.budget import estimate

    s = augmented()
    one = estimate(s, 128, 11, pipeline="memory").batches  # 11 batches: one epoch
    assert estimate(s, 128, 110, pipeline="memory").batches == 10 * one
    assert estimate(s, 128, 110, pipeline="native").batches == one  # the pipeline streams


def test_a_bad_input_section_exits_2_naming_file_field_and_expectation(tmp_path, capsys):
    path = scenario_file(tmp_path, '[input]\npreprocess = [{ op = "random_crop", size = [8, 8], '
                                   'pad = -1 }]\n')
    assert main(["--scenario-file", str(path), "--no-tui", "--fake", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: [input].preprocess[0].pad: expected an integer from 0 to 1024, got -1" in err
