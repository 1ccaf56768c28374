"""The layer catalogue is whole: every type has a builder on both frameworks, a FLOP count,
weights that match its parameter count and a parity case; a block type (inner layers)
recurses through loading, inference, counting, weights and export. No framework needed."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from test_layer_parity import CASES, case_scenario

from engines.builders.keras_layers import KERAS_BUILDERS
from engines.builders.torch_layers import TORCH_BUILDERS
from scenarios import (
    LayerInfo,
    LayerWeights,
    ScenarioError,
    flops_per_step,
    infer_stack,
    initial_weights,
    parse_scenario,
    total_params,
)
from scenarios.fields import REQUIRED, Const, Field, FieldValueError, Float, LayerList
from scenarios.layers import CATALOGUE, LAYER_TYPES, LayerType


def _walk(infos: list[LayerInfo] | tuple[LayerInfo, ...],
          weights: list[LayerWeights] | tuple[LayerWeights, ...],
          ) -> Iterator[tuple[LayerInfo, LayerWeights]]:
    """Every layer, inner ones included, with its weights."""
    for info, arrays in zip(infos, weights, strict=True):
        yield info, arrays
        yield from _walk(info.inner, arrays.inner)


def _own(info: LayerInfo, key: str) -> int:
    return getattr(info, key) - sum(getattr(i, key) for i in info.inner)


def test_every_layer_type_has_a_builder_on_both_frameworks_and_no_builder_is_orphaned():
    assert set(TORCH_BUILDERS) - set(CATALOGUE) == set(), "PyTorch builder for no type"
    assert set(KERAS_BUILDERS) - set(CATALOGUE) == set(), "Keras builder for no type"
    assert set(CATALOGUE) - set(TORCH_BUILDERS) == set(), "types without a PyTorch builder"
    assert set(CATALOGUE) - set(KERAS_BUILDERS) == set(), "types without a Keras builder"
    assert LAYER_TYPES == tuple(CATALOGUE)


def test_every_layer_type_has_a_parity_case_that_uses_it():
    def types(layers) -> set[str]:
        found = set()
        for layer in layers:
            found.add(layer.type)
            block = CATALOGUE[layer.type].inner_field
            if block is not None:
                found |= types(getattr(layer, block.name))
        return found

    assert set(CATALOGUE) - {case.covers for case in CASES} == set(), "types without a case"
    for case in CASES:
        assert case.covers in types(case_scenario(case).layers), case.name


#: Types whose parameters take part in no arithmetic: an embedding looks its vectors up.
LOOKUP_ONLY = {"embedding"}


def test_every_layer_type_counts_its_flops_and_draws_weights_matching_its_params():
    seen = set()
    for case in CASES:
        s = case_scenario(case)
        infos = infer_stack(s.layers, s.data.input_shape)
        for info, arrays in _walk(infos, initial_weights(s)):
            # (A type without flops() cannot even be installed: it is abstract in LayerType.)
            flops, params = _own(info, "flops"), _own(info, "params")
            assert isinstance(flops, int) and flops >= 0, info
            assert params == 0 or flops > 0 or info.layer.type in LOOKUP_ONLY, (
                f"{info.layer.type}: parameters but no FLOPs")
            assert sum(a.size for a in arrays) == params, f"{info.layer.type}: weights != params"
            assert all(a.dtype == np.float32 for a in arrays)
            seen.add(info.layer.type)
    assert seen == set(CATALOGUE)


def test_every_field_is_declared_with_a_kind_a_valid_default_and_words_for_a_reader():
    for name, entry in CATALOGUE.items():
        assert isinstance(entry, LayerType) and entry.name == name and entry.summary
        names = [f.name for f in entry.fields]
        assert len(names) == len(set(names)) and "type" not in names, name
        for f in entry.fields:
            assert f.kind.expectation, (name, f.name)
            if not f.kind.settable:
                continue
            assert f.doc, f"{name}.{f.name} has no doc"
            if not f.required and not isinstance(f.kind, LayerList):
                assert f.kind.parse(f.default) == f.default, (name, f.name)


def test_field_kinds_refuse_what_does_not_fit_in_the_loaders_words():
    with pytest.raises(FieldValueError, match="expected a positive number below 1.0, got 'x'"):
        Float(below=1.0).parse("x")
    with pytest.raises(FieldValueError, match="expected a number >= 0, got nan"):
        Float(positive=False).parse(float("nan"))
    assert Field("x", Const(False)).default is False and Field("y", Float()).default is REQUIRED


# A block type made up for this test: its inner layers, then a learned per-feature bias.
class _Block(LayerType):
    name = "block"
    summary = "inner layers, then a bias"
    fields = (Field("layers", LayerList(), doc="inner layers"),
              Field("gain", Float(), 1.0, doc="a number that only shows in the export"))

    def output_shape(self, layer, shape, inner):
        return inner[-1].output_shape if inner else shape

    def params(self, layer, shape, out):
        return out[-1]

    def flops(self, layer, shape, out):
        return math.prod(out)

    def weights(self, layer, shape, out, rng):
        return [rng.uniform(size=out[-1]).astype(np.float32)]

    def describe(self, layer):
        return f"block of {len(layer.layers)}"


NESTED = [{"type": "block", "gain": 2, "layers": [
    {"type": "dense", "units": 8, "activation": "relu"},
    {"type": "block", "layers": [{"type": "dense", "units": 3}]},
]}]


def _doc(layers) -> dict:
    return {"name": "nested", "data": {"kind": "teacher", "samples": 64, "input_shape": [12],
                                       "classes": 3},
            "model": {"layers": layers},
            "train": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 8, "steps": 3,
                      "loss": "cross_entropy"}}


@pytest.fixture()
def with_block(monkeypatch):
    monkeypatch.setitem(CATALOGUE, "block", _Block())


def test_a_block_recurses_through_inference_counts_weights_and_export(with_block):
    s = parse_scenario(_doc(NESTED), "nested.toml")
    infos = infer_stack(s.layers, s.data.input_shape)
    (outer,) = infos
    dense1, inner_block = outer.inner
    assert outer.output_shape == (3,) and inner_block.inner[0].output_shape == (3,)
    inner_params = (12 * 8 + 8) + (3 + 8 * 3 + 3)
    assert outer.params == 3 + inner_params == total_params(infos)
    assert outer.flops == 3 + 2 * 12 * 8 + 3 + 2 * 8 * 3
    assert flops_per_step(infos, 8, train=False) == 8 * outer.flops
    weights = initial_weights(s)
    assert [a.shape for a in weights[0]] == [(3,)]
    assert [a.shape for a in weights[0].inner[0]] == [(12, 8), (8,)]
    assert [a.shape for a in weights[0].inner[1].inner[0]] == [(8, 3), (3,)]
    # Draws follow the stack order, so the same seed gives the same numbers.
    again = initial_weights(s)
    for (_, a), (_, b) in zip(_walk(infos, weights), _walk(infos, again)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert s.to_dict()["layers"] == [{"type": "block", "layers": [
        {"type": "dense", "units": 8, "activation": "relu", "return_sequences": False},
        {"type": "block", "layers": [
            {"type": "dense", "units": 3, "activation": "linear", "return_sequences": False}],
         "gain": 1.0}], "gain": 2.0}]
    assert s.layers[0].describe() == "block of 2"


@pytest.mark.parametrize("inner,field,words", [
    ([{"type": "dense"}], "[model].layers[0].layers[0].units", "missing required field"),
    ([{"type": "block", "layers": [{"type": "dense", "units": 3, "colour": 1}]}],
     "[model].layers[0].layers[0].layers[0].colour", "unknown field"),
    ([{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "dense", "units": 3}],
     "[model].layers[0].layers[0] (conv2d)", "expects an image input"),
    ([5], "[model].layers[0].layers[0]", "expected a table"),
    ("dense", "[model].layers[0].layers", "expected a list of layer tables"),
])
def test_a_mistake_inside_a_block_is_refused_naming_its_place(with_block, inner, field, words):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_doc([{"type": "block", "layers": inner}]), "nested.toml")
    assert info.value.field == field and words in str(info.value)
    assert info.value.source == "nested.toml"
