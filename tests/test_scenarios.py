"""Scenario loading, validation of bad input, shapes, data and weights (no framework needed)."""

from __future__ import annotations

import hashlib
import pickle
import textwrap

import numpy as np
import pytest

from scenarios import (
    LayerSpec,
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
from scenarios.tokens import loss_floor

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


def test_builtins_are_the_documented_scenarios_in_order():
    names = [s.name for s in load_builtins()]
    assert names == ["mlp", "cnn", "lstm", "regression", "digits", "transformer", "resnet", "gru",
                     "cnn-augmented"]
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
    ("missing layer field", lambda t: t.replace('"dense", units = 3 }', '"dense" }'),
     "[model].layers[1].units", "missing required field (a positive integer)"),
    ("layer field of the wrong type", lambda t: t.replace("units = 3 }", "units = true }"),
     "[model].layers[1].units", "expected a positive integer, got True"),
    ("layer that is not a table", lambda t: t.replace('{ type = "dense", units = 3 }', '3'),
     "[model].layers[1]", "expected a table"),
    ("momentum of 1", lambda t: t + "momentum = 1.0\n", "[train].momentum",
     "expected a positive number below 1.0, got 1.0"),
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
        # Token ids are integers; every other input is float32.
        assert x1.dtype == (np.int64 if s.data.kind == "tokens" else np.float32)
        assert x1.shape == (s.data.samples, *s.data.input_shape)
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
        if s.data.kind == "digits":
            # Real data: the seed picks the held-out split and the batch order, not the data.
            again = make_batches(s.data, s.train.batch_size, seed=s.data.seed + 1)
            assert not np.array_equal(make_batches(s.data, s.train.batch_size).x, again.x)
        else:
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


def _weights_digest(weights) -> str:
    h = hashlib.sha256()
    for arrays in weights:
        h.update(f"{len(arrays)}|".encode())
        for a in arrays:
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


# sha256 of every built-in's initial weights as the code before the layer catalogue drew them
# (branch main at 5d23f78): parity figures, README figures and snapshots rest on these numbers.
BUILTIN_WEIGHT_DIGESTS = {
    ("mlp", None): "b1bb7f610bb94781b263576a5b93c5c43ebd862bfddb4f367ca45308a7728e90",
    ("mlp", 7): "8e471f913e1ea12b7324423a21feac684e1335bdccdaffd80d22ceac29dee67c",
    ("cnn", None): "918350b9c41a69ff813cdac05ff2689f16d0f36b92884d6572f4bfde7ad6743a",
    ("cnn", 7): "ee0c3985192a694d2376becef45e4fd134cc925139715d48942858cc91189fd5",
    ("lstm", None): "b285fde629fa64580416bbbac14a8f7faa2dc6d0f76d59f1dd6ebfe998425d3e",
    ("lstm", 7): "184b43d380cadc86ec711f9dfc54f8c3649af94978a5a4eb61d1de37cd6b7c5f",
    ("regression", None): "301c94d1bf1a3c832561921a37077e3c703f39b089f20930dca5b30bef256049",
    ("regression", 7): "33855e265df7a845db09722574e630e6a0255ab832ea7205ba4c7b84c7dd849b",
}


@pytest.mark.parametrize("name,seed", list(BUILTIN_WEIGHT_DIGESTS))
def test_builtin_initial_weights_are_bit_identical_to_before_the_catalogue(name, seed):
    scenario = {s.name: s for s in load_builtins()}[name]
    assert _weights_digest(initial_weights(scenario, seed)) == BUILTIN_WEIGHT_DIGESTS[name, seed]


def test_builtin_layers_export_exactly_as_before():
    # The results JSON's scenario.layers (saved runs are matched on it, key order included).
    by_name = {s.name: s for s in load_builtins()}
    lin, flat = {"activation": "linear", "return_sequences": False}, {"return_sequences": False}
    assert by_name["cnn"].to_dict()["layers"] == [
        {"type": "conv2d", "filters": 16, "kernel_size": 3, "stride": 1, "padding": "same",
         "activation": "relu", **flat},
        {"type": "maxpool2d", "pool_size": 2, **lin},
        {"type": "conv2d", "filters": 32, "kernel_size": 3, "stride": 1, "padding": "same",
         "activation": "relu", **flat},
        {"type": "maxpool2d", "pool_size": 2, **lin},
        {"type": "flatten", **lin},
        {"type": "dense", "units": 64, "activation": "relu", **flat},
        {"type": "dense", "units": 10, **lin},
    ]
    lstm = by_name["lstm"].to_dict()["layers"]
    assert lstm == [{"type": "lstm", "units": 64, **lin}, {"type": "dense", "units": 4, **lin}]
    assert [list(d) for d in lstm] == [["type", "units", "activation", "return_sequences"]] * 2
    assert [list(d) for d in by_name["cnn"].to_dict()["layers"]][:2] == [
        ["type", "filters", "kernel_size", "stride", "padding", "activation", "return_sequences"],
        ["type", "pool_size", "activation", "return_sequences"]]
    assert [layer.describe() for layer in by_name["cnn"].layers] == [
        "conv2d 16@3x3 s1 same relu", "maxpool2d 2x2", "conv2d 32@3x3 s1 same relu",
        "maxpool2d 2x2", "flatten", "dense 64 relu", "dense 10"]


def test_a_layer_made_in_code_without_a_required_field_is_refused_not_crashed():
    with pytest.raises(ScenarioError) as info:
        infer_stack((LayerSpec("dense", (("activation", "relu"),)),), (4,))
    assert info.value.field == "[model].layers[0].units" and "missing required field" in str(
        info.value)
    with pytest.raises(ScenarioError) as info:
        infer_stack((LayerSpec("dens"),), (4,))
    assert info.value.field == "[model].layers[0].type" and "unknown layer type" in str(info.value)


def test_layer_fields_read_as_attributes_and_a_foreign_field_is_an_error():
    mlp = {s.name: s for s in load_builtins()}["mlp"]
    assert mlp.layers[0].units == 256 and mlp.layers[0].activation == "relu"
    with pytest.raises(AttributeError, match="dense layer has no field 'filters'"):
        _ = mlp.layers[0].filters


def test_a_scenario_survives_the_trip_to_an_engine_process():
    # Scenarios are pickled to the engine children; a layer's fields must come back readable.
    for s in load_builtins():
        back = pickle.loads(pickle.dumps(s))
        assert back == s and back.to_dict() == s.to_dict()
        assert [layer.describe() for layer in back.layers] == [
            layer.describe() for layer in s.layers]


TOKENS_SCENARIO = """
name = "tok"
[data]
kind = "tokens"
vocab = 10
seq_len = 6
samples = 64
[model]
layers = [LAYERS]
[train]
optimizer = "sgd"
learning_rate = 0.1
batch_size = 8
steps = 5
loss = "cross_entropy"
"""

EMBED = '{ type = "embedding", dim = 8 }'
LOGITS = '{ type = "dense", units = 10 }'
TOKENS_OK = TOKENS_SCENARIO.replace("LAYERS", f"{EMBED}, {LOGITS}")

# (description, scenario text, field named, words of the expectation)
NEW_LAYER_REFUSALS = [
    ("tokens without vocab", TOKENS_OK.replace("vocab = 10\n", ""), "[data].vocab",
     "missing required field (an integer >= 2)"),
    ("a vocabulary of one", TOKENS_OK.replace("vocab = 10", "vocab = 1"), "[data].vocab",
     "expected an integer >= 2, got 1"),
    ("tokens with an input shape", TOKENS_OK.replace("seq_len = 6", "input_shape = [6]"),
     "[data].input_shape", "unknown field in [data] of kind \"tokens\""),
    ("embedding on non-token data", GOOD.replace(
        '{ type = "dense", units = 16, activation = "relu" }', EMBED),
     "[model].layers[0] (embedding)", "expects token ids"),
    ("token ids without an embedding", TOKENS_SCENARIO.replace("LAYERS", LOGITS),
     "[model].layers[0] (dense)", "start the model with an embedding layer"),
    ("logits that are not per position", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "flatten" }}, {LOGITS}'),
     "[model].layers[2]", "next-token prediction needs (6, 10)"),
    ("E not divisible by heads", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "attention", heads = 3 }}, {LOGITS}'),
     "[model].layers[1].heads", "expected a divisor of the input width E = 8"),
    ("unknown field of a new layer type", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "attention", heads = 2, dropout = 0.1 }}, {LOGITS}'),
     "[model].layers[1].dropout", "unknown field in a attention layer"),
    ("identity residual that changes the shape", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "residual", layers = [{{ type = "dense", units = 4 }}] }}, '
        f'{LOGITS}'),
     "[model].layers[1].shortcut", "input's shape (6, 8) for shortcut 'identity', got (6, 4)"),
    ("a mistake inside a nested residual", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "residual", layers = [{{ type = "residual", layers = ['
        '{ type = "attention", heads = 5 }] }] }, ' + LOGITS),
     "[model].layers[1].layers[0].layers[0].heads", "divisor of the input width E = 8"),
    ("an empty residual", TOKENS_SCENARIO.replace(
        "LAYERS", f'{EMBED}, {{ type = "residual", layers = [] }}, {LOGITS}'),
     "[model].layers[1].layers", "expected at least one inner layer"),
    ("a projection that changes the rank", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "residual", shortcut = "project", layers = [{ type = "flatten" }] }, '
        '{ type = "dense", units = 2 }'),
     "[model].layers[0].shortcut", "a different rank"),
    ("padding that is neither a word nor a count", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "conv2d", filters = 2, kernel_size = 3, padding = "full" }, '
        '{ type = "flatten" }, { type = "dense", units = 2 }'),
     "[model].layers[0].padding", "expected one of valid | same, or an integer >= 0"),
    ("'same' with stride 2", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "conv2d", filters = 2, kernel_size = 3, stride = 2, '
        'padding = "same" }, { type = "flatten" }, { type = "dense", units = 2 }'),
     "[model].layers[0].stride", "use an integer padding"),
    ("batchnorm momentum of 1", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "batchnorm", momentum = 1.0 }, { type = "flatten" }, '
        '{ type = "dense", units = 2 }'),
     "[model].layers[0].momentum", "expected a number >= 0 below 1.0, got 1.0"),
    ("dropout without a rate", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "dropout" }, { type = "flatten" }, { type = "dense", units = 2 }'),
     "[model].layers[0].rate", "missing required field"),
    ("unknown activation of an activation layer", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "global_avg_pool" }, { type = "dense", units = 2 }, '
        '{ type = "activation", activation = "swish" }'),
     "[model].layers[2].activation", "gelu | softmax"),
    ("gru on an image", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "gru", units = 4 }, { type = "dense", units = 2 }'),
     "[model].layers[0] (gru)", "expects a sequence input [T, F], got (8, 8, 3)"),
    ("conv1d on an image", IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "conv1d", filters = 2, kernel_size = 3 }, { type = "flatten" }, '
        '{ type = "dense", units = 2 }'),
     "[model].layers[0] (conv1d)", "expects a sequence input [T, F]"),
]


@pytest.mark.parametrize("desc,text,field,words", NEW_LAYER_REFUSALS,
                         ids=[c[0] for c in NEW_LAYER_REFUSALS])
def test_new_layers_and_token_data_refuse_bad_input(tmp_path, desc, text, field, words):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path) and info.value.field == field
    assert words in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("case", [0, 3, 6, 8], ids=lambda i: NEW_LAYER_REFUSALS[i][0])
def test_a_refused_scenario_file_exits_2_before_anything_runs(tmp_path, capsys, case):
    from tui.cli import main

    _, text, field, words = NEW_LAYER_REFUSALS[case]
    path = write(tmp_path, text)
    assert main(["--no-tui", "--scenario-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and field in err and words in err and "Traceback" not in err


def test_token_data_predicts_the_next_token_and_its_floor_is_the_chains_entropy_rate(tmp_path):
    s = load_scenario(write(tmp_path, TOKENS_OK.replace("samples = 64", "samples = 4000")))
    x, y = make_dataset(s.data)
    assert x.dtype == y.dtype == np.int64 and x.shape == y.shape == (4000, 6)
    assert x.min() >= 0 and x.max() < 10
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # the target is the next token
    # The empirical conditional entropy of the next token given this one estimates the
    # entropy rate: the loss floor, in nats, well below a uniform guess's log(vocab).
    counts = np.zeros((10, 10))
    np.add.at(counts, (x.ravel(), y.ravel()), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        empirical = -np.nansum(counts / counts.sum() * np.log(p))
    floor = loss_floor(s.data)
    assert abs(empirical - floor) < 0.05 and floor < 0.8 * np.log(10)
    assert loss_floor(s.data, seed=1) != floor  # the seed draws another chain
    assert loss_floor(load_builtins()[0].data) is None  # not token data


def test_token_scenarios_export_their_vocabulary_and_keep_it_through_pickling(tmp_path):
    s = load_scenario(write(tmp_path, TOKENS_OK))
    assert s.data.input_shape == (6,) and s.data.input_shape.vocab == 10
    data = s.to_dict()["data"]
    assert data["input_shape"] == [6] and data["vocab"] == 10 and data["kind"] == "tokens"
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.data.input_shape.vocab == 10
    infos = infer_stack(back.layers, back.data.input_shape)
    assert [i.output_shape for i in infos] == [(6, 8), (6, 10)]
    assert total_params(infos) == 10 * 8 + (8 * 10 + 10)
    assert "vocab" not in load_builtins()[0].to_dict()["data"]  # other exports unchanged


def test_transformer_resnet_and_gru_shapes_params_and_flops():
    by_name = {s.name: s for s in load_builtins()}
    t = by_name["transformer"]
    infos = infer_stack(t.layers, t.data.input_shape)
    assert [i.output_shape for i in infos] == [(32, 32)] * 7 + [(32, 32)]
    attention = infos[2].inner[1]
    assert attention.params == 4 * 32 * 32 + 4 * 32
    # Projections 4 x (T E^2) and Q K^T, A V (T^2 E each), multiply-add = 2.
    assert attention.flops == 2 * (4 * 32 * 32 * 32 + 2 * 32 * 32 * 32)
    assert infos[0].params == 32 * 32 and infos[0].flops == 0  # a lookup
    assert infos[1].params == 32 * 32  # one vector per position
    r = by_name["resnet"]
    infos = infer_stack(r.layers, r.data.input_shape)
    assert [i.output_shape for i in infos] == [
        (32, 32, 16), (32, 32, 16), (32, 32, 16), (32, 32, 16), (32, 32, 16), (16, 16, 32),
        (16, 16, 32), (32,), (10,)]
    project = infos[5]
    inner = (3 * 3 * 16 * 32 + 32) + 2 * 32 + (3 * 3 * 32 * 32 + 32) + 2 * 32  # conv, bn x2
    assert project.params == (16 * 32 + 32) + inner  # the 1x1 stride-2 shortcut, then f
    assert infos[1].params == 2 * 16  # gamma and beta; the running statistics are not trained
    g = by_name["gru"]
    infos = infer_stack(g.layers, g.data.input_shape)
    assert infos[0].params == 3 * 64 * (8 + 64) + 2 * 3 * 64


def test_conv2d_integer_padding_and_dense_per_position(tmp_path):
    s = load_scenario(write(tmp_path, IMAGE_SCENARIO.replace(
        "LAYERS", '{ type = "conv2d", filters = 4, kernel_size = 3, stride = 2, padding = 1 }, '
        '{ type = "global_avg_pool" }, { type = "dense", units = 2 }')))
    infos = infer_stack(s.layers, s.data.input_shape)
    assert infos[0].output_shape == (4, 4, 4) and s.layers[0].describe() == "conv2d 4@3x3 s2 pad1"
    assert s.to_dict()["layers"][0]["padding"] == 1
    seq = infer_stack((LayerSpec("dense", (("units", 5), ("activation", "gelu"))),), (7, 3))
    assert seq[0].output_shape == (7, 5) and seq[0].params == 3 * 5 + 5
    assert seq[0].flops == 7 * 2 * 3 * 5
