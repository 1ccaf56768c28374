"""The shipped digits data set, the held-out split, [train] eval_every and the checks around
them, and the detection of active dropout. No framework needed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import scenarios.datasets as datasets
from scenarios import (
    ScenarioError,
    find,
    has_active_dropout,
    load_builtins,
    make_batches,
    make_dataset,
    make_holdout,
    parse_scenario,
)
from scenarios.data import split_indices
from scenarios.datasets import DatasetError, load_digits
from scenarios.fields import Field, Float, LayerList
from scenarios.layers import CATALOGUE, LayerType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def digits_doc(data: dict | None = None, train: dict | None = None,
               layers: list | None = None) -> dict:
    return {
        "name": "d",
        "data": {"kind": "digits", "input_shape": [64], **(data or {})},
        "model": {"layers": layers or [{"type": "dense", "units": 10}]},
        "train": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "steps": 10,
                  "loss": "cross_entropy", **(train or {})},
    }


# -- the data file --------------------------------------------------------------------------

def test_digits_are_the_1797_scaled_images_of_ten_balanced_classes():
    x, y = load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    # Pixels were integers 0..16: scaled by 1/16 they sit on that grid exactly.
    np.testing.assert_array_equal(x * 16, np.round(x * 16))
    counts = np.bincount(y)
    assert len(counts) == 10 and counts.min() >= 170 and counts.max() <= 190
    # The file's first digit is a 0: a ring of ink around a blank centre.
    first = x[0]
    assert y[0] == 0 and first[3:5, 3:5].max() == 0 and first[1:7, 1:7].max() > 0.5
    assert not x.flags.writeable and not y.flags.writeable  # the cached arrays are shared


def test_the_readme_records_the_checksum_the_loader_verifies():
    readme = (ROOT / "scenarios" / "datasets" / "README.md").read_text(encoding="utf-8")
    recorded = re.search(r"SHA-256:\*\* `([0-9a-f]{64})`", readme)
    assert recorded and recorded.group(1) == datasets.DIGITS_SHA256
    assert "CC BY 4.0" in readme and "BSD 3-Clause" in readme


def test_a_damaged_or_missing_data_file_is_refused_with_the_reason():
    with pytest.raises(DatasetError, match="damaged or was replaced: SHA-256 09f66e6d"):
        datasets._read_verified(datasets.DIGITS_FILE, "0" * 64)
    with pytest.raises(DatasetError, match="cannot be read"):
        datasets._read_verified("no-such-file.csv.gz", "0" * 64)


def test_the_data_file_is_package_data_so_a_wheel_carries_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["scenarios"]
    assert any(Path("datasets/digits.csv.gz").match(p) for p in patterns)
    assert (ROOT / "scenarios" / "datasets" / "__init__.py").is_file()  # a package: found


# -- the data kind --------------------------------------------------------------------------

def test_digits_shaped_as_an_image_or_flat_hold_the_same_pixels():
    image = parse_scenario(digits_doc({"input_shape": [8, 8, 1]}, layers=[
        {"type": "flatten"}, {"type": "dense", "units": 10}]), "d.toml")
    flat = parse_scenario(digits_doc(), "d.toml")
    xi, yi = make_dataset(image.data)
    xf, yf = make_dataset(flat.data)
    assert xi.shape == (1797, 8, 8, 1) and xf.shape == (1797, 64)
    np.testing.assert_array_equal(xi.reshape(1797, 64), xf)
    np.testing.assert_array_equal(yi, yf)
    assert image.data.samples == 1797 and image.data.classes == 10
    assert image.data.holdout == 0.2  # the documented default for digits


def test_fewer_samples_take_the_first_ones_of_the_file():
    s = parse_scenario(digits_doc({"samples": 500, "holdout": 0.1}), "d.toml")
    x, y = make_dataset(s.data)
    np.testing.assert_array_equal(y, load_digits()[1][:500])
    assert x.shape == (500, 64) and s.data.holdout_samples == 50


@pytest.mark.parametrize("data, field, words", [
    ({"input_shape": [8, 8]}, "[data].input_shape", "[8, 8, 1] (an image) or [64]"),
    ({"input_shape": [28, 28, 1]}, "[data].input_shape", "got [28, 28, 1]"),
    ({"samples": 2000}, "[data].samples", "has 1797 samples, got 2000"),
    ({"noise": 0.1}, "[data].noise", "no noise setting"),
    ({"classes": 5}, "[data].classes", "has 10 classes, got 5"),
    ({"outputs": 1}, "[data].outputs", "use 'classes'"),
    ({"holdout": 1.0}, "[data].holdout", "below 1.0"),
    ({"holdout": -0.1}, "[data].holdout", "a number >= 0"),
])
def test_bad_digits_fields_are_refused_naming_the_field(data, field, words):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(digits_doc(data), "d.toml")
    assert err.value.field == field and words in err.value.detail
    assert str(err.value).startswith("d.toml: " + field)


def test_eval_every_needs_held_out_samples():
    teacher = {"kind": "teacher", "samples": 256, "input_shape": [4], "classes": 3}
    doc = {**digits_doc(train={"eval_every": 5}), "data": teacher,
           "model": {"layers": [{"type": "dense", "units": 3}]}}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc, "t.toml")
    assert err.value.field == "[train].eval_every" and "[data].holdout" in err.value.detail
    # Synthetic data gets a held-out split when asked for one.
    ok = parse_scenario({**doc, "data": {**teacher, "holdout": 0.25}}, "t.toml")
    assert ok.train.eval_every == 5 and ok.data.holdout_samples == 64
    with pytest.raises(ScenarioError) as err:
        parse_scenario(digits_doc({"holdout": 0.0}, {"eval_every": 5}), "d.toml")
    assert err.value.field == "[train].eval_every"
    with pytest.raises(ScenarioError, match="positive integer"):
        parse_scenario(digits_doc(train={"eval_every": 0}), "d.toml")


def test_a_batch_larger_than_the_training_samples_is_refused():
    with pytest.raises(ScenarioError) as err:
        parse_scenario(digits_doc({"samples": 100}, {"batch_size": 90}), "d.toml")
    assert err.value.field == "[train].batch_size"
    assert "exceeds the 80 training samples ([data].samples 100 less the 20 held out)" \
        in err.value.detail


# -- the held-out split -----------------------------------------------------------------------

def test_the_held_out_split_is_disjoint_seeded_and_never_trained_on():
    s = find("digits", load_builtins())
    train, held = split_indices(s.data)
    assert len(held) == 359 and len(train) == 1797 - 359
    assert not set(train) & set(held)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held])), np.arange(1797))
    other_train, other_held = split_indices(s.data, seed=1)
    assert not np.array_equal(held, other_held)
    # No held-out digit appears in a training batch: compare the images themselves.
    x, _ = make_dataset(s.data)
    batches = make_batches(s.data, 64)
    assert len(batches) == (1797 - 359) // 64
    seen = {row.tobytes() for row in batches.x.reshape(-1, 64)}
    trained_on = {x[i].tobytes() for i in train}
    held_only = {x[i].tobytes() for i in held} - trained_on  # duplicates may exist in data
    assert seen <= trained_on and not seen & held_only


def test_held_out_batches_cover_every_held_out_sample_once_in_a_fixed_order():
    s = find("digits", load_builtins())
    chunks = make_holdout(s.data, 64)
    assert [len(c[0]) for c in chunks] == [64] * 5 + [39]
    x, y = make_dataset(s.data)
    _, held = split_indices(s.data)
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), x[held])
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y[held])
    again = make_holdout(s.data, 64)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(chunks, again))
    assert make_holdout(find("mlp", load_builtins()).data, 64) == []


def test_without_a_held_out_split_the_batches_are_those_of_before():
    # The order was one seeded permutation of every sample: the split must not change it.
    for s in load_builtins():
        if s.data.holdout:
            continue
        x, y = make_dataset(s.data)
        order = np.random.default_rng([2, s.data.seed]).permutation(len(x))
        n = len(x) // s.train.batch_size
        idx = order[: n * s.train.batch_size].reshape(n, s.train.batch_size)
        b = make_batches(s.data, s.train.batch_size)
        np.testing.assert_array_equal(b.x, x[idx])
        np.testing.assert_array_equal(b.y, y[idx])


def test_exports_of_scenarios_without_the_new_fields_are_unchanged():
    mlp = find("mlp", load_builtins()).to_dict()
    assert "holdout" not in mlp["data"] and "eval_every" not in mlp["train"]
    digits = find("digits", load_builtins()).to_dict()
    assert digits["data"]["holdout"] == 0.2 and digits["train"]["eval_every"] == 50
    assert digits["data"]["kind"] == "digits" and digits["data"]["input_shape"] == [8, 8, 1]


def test_the_digits_builtin_evaluates_and_fits_its_data():
    s = find("digits", load_builtins())
    assert s.builtin and s.train.eval_every == 50 and s.train.steps % 50 == 0
    assert s.data.train_samples >= s.train.batch_size
    assert not has_active_dropout(s)  # so its parity is exact


# -- active dropout ---------------------------------------------------------------------------

class StandInDropout(LayerType):
    """A stand-in for the dropout type (the real one lives in the layer catalogue)."""

    name = "dropout"
    summary = "zeroes a fraction `rate` of its inputs while training"
    fields = (Field("rate", Float(positive=False, below=1.0), 0.5),)

    def output_shape(self, layer, shape, inner):
        return shape

    def params(self, layer, shape, out):
        return 0

    def flops(self, layer, shape, out):
        return 0


class StandInBlock(LayerType):
    """A made-up block type: its inner layers, nothing of its own."""

    name = "block"
    summary = "inner layers"
    fields = (Field("layers", LayerList()),)

    def output_shape(self, layer, shape, inner):
        return inner[-1].output_shape if inner else shape

    def params(self, layer, shape, out):
        return 0

    def flops(self, layer, shape, out):
        return 0


@pytest.fixture
def with_dropout(monkeypatch):
    monkeypatch.setitem(CATALOGUE, "dropout", StandInDropout())
    monkeypatch.setitem(CATALOGUE, "block", StandInBlock())


DENSE = {"type": "dense", "units": 10}


@pytest.mark.parametrize("layers, active", [
    ([DENSE], False),
    ([{"type": "dense", "units": 16}, {"type": "dropout", "rate": 0.3}, DENSE], True),
    ([{"type": "dropout", "rate": 0.0}, DENSE], False),
    ([{"type": "dropout"}, DENSE], True),  # the stand-in's default rate is 0.5
    ([{"type": "block", "layers": [
        {"type": "block", "layers": [{"type": "dense", "units": 8},
                                     {"type": "dropout", "rate": 0.1}]}]}, DENSE], True),
    ([{"type": "block", "layers": [{"type": "dropout", "rate": 0.0}]}, DENSE], False),
])
def test_active_dropout_is_found_at_any_depth(with_dropout, layers, active):
    s = parse_scenario(digits_doc(layers=layers), "d.toml")
    assert has_active_dropout(s) is active


def test_run_settings_refuse_a_batch_the_training_samples_cannot_fill():
    from engines import settings_for

    digits = find("digits", load_builtins())
    assert settings_for(digits, batch_size=1438).batch_size == 1438
    with pytest.raises(ValueError, match="1439 exceeds the scenario's 1438 training samples "
                                         r"\(359 more are held out\)"):
        settings_for(digits, batch_size=1439)
