"""Scenario loading, validation of bad input, shapes, data and weights (no framework needed)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from scenarios import (
    ScenarioError,
    discover,
    flops_per_step,
    infer_stack,
    initial_weights,
    load_builtins,
    load_scenario,
    make_batches,
    make_dataset,
    total_params,
)

GOOD = """
name = "mine"
description = "a test scenario"
[data]
kind = "teacher"
samples = 256
input_shape = [20]
classes = 3
seed = 4
[model]
layers = [
  { type = "dense", units = 16, activation = "relu" },
  { type = "dense", units = 3 },
]
[train]
optimizer = "sgd"
learning_rate = 0.05
batch_size = 32
steps = 10
loss = "cross_entropy"
"""


def write(tmp_path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtins_are_the_four_documented_scenarios():
    names = [s.name for s in load_builtins()]
    assert names == ["mlp", "cnn", "lstm", "regression"]
    for s in load_builtins():
        assert s.builtin and s.description


def test_mlp_builtin_matches_the_documented_format():
    mlp = {s.name: s for s in load_builtins()}["mlp"]
    assert mlp.data.kind == "teacher" and mlp.data.input_shape == (784,)
    assert mlp.data.classes == 10 and mlp.data.samples == 4096
    assert [l.units for l in mlp.layers] == [256, 10]
    assert mlp.train.optimizer == "sgd" and mlp.train.learning_rate == 0.05
    assert mlp.train.batch_size == 128 and mlp.train.steps == 300


def test_good_file_loads(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.name == "mine" and s.data.seed == 4 and s.layers[0].activation == "relu"
    assert s.to_dict()["layers"][1] == {"type": "dense", "units": 3, "activation": "linear",
                                        "return_sequences": False}


BAD_CASES = [
    # (description, edit of GOOD, field named, words in the message)
    ("toml syntax", lambda t: t.replace('name = "mine"', 'name = "mine'), None, "TOML syntax"),
    ("missing field", lambda t: t.replace("samples = 256\n", ""), "[data].samples", "missing"),
    ("unknown field", lambda t: t.replace("seed = 4", "seed = 4\ncolour = 1"), "[data].colour",
     "unknown field"),
    ("unknown top-level field", lambda t: "extra = 1\n" + t, "extra", "unknown field"),
    ("unknown layer", lambda t: t.replace('type = "dense", units = 16', 'type = "dens", units = 16'),
     "[model].layers[0].type", "unknown layer type 'dens'"),
    ("unknown activation", lambda t: t.replace('"relu"', '"swish"'),
     "[model].layers[0].activation", "relu | tanh | sigmoid"),
    ("negative learning rate", lambda t: t.replace("learning_rate = 0.05", "learning_rate = -0.1"),
     "[train].learning_rate", "positive"),
    ("wrong type", lambda t: t.replace("batch_size = 32", 'batch_size = "32"'),
     "[train].batch_size", "positive integer"),
    ("field of another layer type", lambda t: t.replace("units = 3 }", "units = 3, filters = 2 }"),
     "[model].layers[1].filters", "unknown field"),
    ("unknown optimizer", lambda t: t.replace('"sgd"', '"rmsprop"'), "[train].optimizer",
     "sgd | momentum | adam"),
    ("last layer does not fit the classes", lambda t: t.replace("units = 3 }", "units = 4 }"),
     "[model].layers[1]", "3 classes"),
    ("batch larger than data", lambda t: t.replace("batch_size = 32", "batch_size = 1000"),
     "[train].batch_size", "exceeds"),
    ("conv on flat data", lambda t: t.replace(
        '{ type = "dense", units = 16, activation = "relu" }',
        '{ type = "conv2d", filters = 4, kernel_size = 3 }'),
     "[model].layers[0] (conv2d)", "expects an image input"),
    ("no layers", lambda t: t.replace(t[t.index("layers = ["):t.index("]\n[train]") + 1],
                                      "layers = []"), "[model].layers", "at least one layer"),
]


@pytest.mark.parametrize("desc,edit,field,words", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scenario_is_refused_naming_file_and_field(tmp_path, desc, edit, field, words):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.source == str(path)
    if field:
        assert err.field == field
    assert words in str(err)
    assert str(path) in str(err)


IMAGE_SCENARIO = """
name = "img"
[data]
kind = "images"
samples = 64
input_shape = [8, 8, 3]
classes = 2
[model]
layers = [LAYERS]
[train]
optimizer = "sgd"
learning_rate = 0.1
batch_size = 8
steps = 5
loss = "cross_entropy"
"""


@pytest.mark.parametrize("layers,field,words", [
    ('{ type = "dense", units = 2 }', "[model].layers[0] (dense)", "add a flatten layer"),
    ('{ type = "conv2d", filters = 2, kernel_size = 9 }, { type = "flatten" }, '
     '{ type = "dense", units = 2 }', "[model].layers[0] (conv2d)", "does not fit"),
    ('{ type = "conv2d", filters = 2, kernel_size = 2, padding = "same" }, { type = "flatten" }, '
     '{ type = "dense", units = 2 }', "[model].layers[0].kernel_size", "odd kernel_size"),
    ('{ type = "maxpool2d", pool_size = 16 }, { type = "flatten" }, { type = "dense", units = 2 }',
     "[model].layers[0] (maxpool2d)", "does not fit"),
    ('{ type = "lstm", units = 4 }, { type = "dense", units = 2 }', "[model].layers[0] (lstm)",
     "sequence input"),
])
def test_shapes_that_do_not_fit_are_refused(tmp_path, layers, field, words):
    path = write(tmp_path, IMAGE_SCENARIO.replace("LAYERS", layers))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == field and words in str(info.value)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError):
        load_scenario(bad)


def test_discover_skips_broken_user_files_and_reports_them(tmp_path):
    write(tmp_path, GOOD, "good.toml")
    write(tmp_path, "name = ", "broken.toml")
    scenarios, problems = discover([], tmp_path)
    assert "mine" in [s.name for s in scenarios]
    assert len(problems) == 1 and "broken.toml" in str(problems[0])


def test_cnn_shapes_params_and_flops():
    cnn = {s.name: s for s in load_builtins()}["cnn"]
    infos = infer_stack(cnn.layers, cnn.data.input_shape)
    assert [i.output_shape for i in infos] == [
        (32, 32, 16), (16, 16, 16), (16, 16, 32), (8, 8, 32), (2048,), (64,), (10,)]
    # conv1 3*3*3*16+16, conv2 3*3*16*32+32, dense 2048*64+64, dense 64*10+10
    assert total_params(infos) == 448 + 4640 + 131136 + 650
    assert flops_per_step(infos, 64, train=True) == 3 * flops_per_step(infos, 64, train=False)
    assert flops_per_step(infos, 1, train=False) > 2 * 3 * 3 * 3 * 16 * 32 * 32


def test_data_is_deterministic_and_seed_dependent():
    for s in load_builtins():
        x1, y1 = make_dataset(s.data)
        x2, y2 = make_dataset(s.data)
        assert x1.dtype == np.float32 and x1.shape == (s.data.samples, *s.data.input_shape)
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
        x3, _ = make_dataset(s.data, seed=s.data.seed + 1)
        assert not np.array_equal(x1, x3)
        if s.data.classes:
            # Every class occurs: the task is not degenerate.
            assert set(np.unique(y1)) == set(range(s.data.classes))


def test_batches_are_full_and_in_a_fixed_shuffled_order():
    s = load_builtins()[0]
    b = make_batches(s.data, 100)
    assert len(b) == s.data.samples // 100 and b.batch_size == 100
    again = make_batches(s.data, 100)
    np.testing.assert_array_equal(b.x, again.x)
    x, _ = make_dataset(s.data)
    assert not np.array_equal(b.x[0], x[:100])  # shuffled, not the data set's order


def test_initial_weights_layout_and_determinism():
    lstm = {s.name: s for s in load_builtins()}["lstm"]
    w = initial_weights(lstm)
    kernel, recurrent, bias = w[0]
    u = lstm.layers[0].units
    assert kernel.shape == (8, 4 * u) and recurrent.shape == (u, 4 * u) and bias.shape == (4 * u,)
    assert np.all(bias[u:2 * u] == 1.0) and np.all(bias[:u] == 0)  # forget gate bias in the data
    np.testing.assert_array_equal(kernel, initial_weights(lstm)[0][0])
    assert not np.array_equal(kernel, initial_weights(lstm, seed=99)[0][0])
