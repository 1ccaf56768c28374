"""The picker's detail pane, without an app: nested blocks in the layer table, whose rows add
up to the model's totals, and the loss floor of token data."""

from __future__ import annotations

import math

from rich.console import Console

from engines import settings_for
from scenarios import infer_stack, load_builtins, loss_floor, total_params
from tui.widgets.scenario_detail import describe_data, floor_line, layer_rows, layer_table

BUILTINS = {s.name: s for s in load_builtins()}


def _text(renderable, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_inner_layers_follow_their_block_one_level_deeper_and_rows_add_up_to_the_totals():
    s = BUILTINS["resnet"]
    infos = infer_stack(s.layers, s.data.input_shape)
    rows = layer_rows(infos)
    assert [(n, depth, info.layer.type) for n, depth, info, _, _ in rows][3:10] == [
        ("3", 0, "residual"), ("", 1, "conv2d"), ("", 1, "batchnorm"), ("", 1, "activation"),
        ("", 1, "conv2d"), ("", 1, "batchnorm"), ("4", 0, "activation")]
    assert sum(params for *_, params, _ in rows) == total_params(infos)
    assert sum(flops for *_, flops in rows) == sum(i.flops for i in infos)
    projection = rows[10]  # the stride-2 block: its own row counts its 1x1 shortcut only
    assert projection[2].layer.shortcut == "project" and projection[3] == 16 * 32 + 32
    text = _text(layer_table(s))
    assert "  └ conv2d 32@3x3 s2 pad1" in text and "residual (project)" in text
    assert f"total {total_params(infos):,}".replace(" ", "") in text.replace(" ", "")


def test_blocks_nested_two_deep_are_indented_twice():
    from test_layer_parity import CASES, case_scenario

    s = case_scenario(next(c for c in CASES if c.name == "residual-nested"))
    rows = layer_rows(infer_stack(s.layers, s.data.input_shape))
    assert [depth for _, depth, *_ in rows] == [0, 1, 1, 2, 1, 0]
    assert "    └ dense 16 tanh" in _text(layer_table(s))


def test_token_data_shows_its_loss_floor_for_the_runs_seed():
    s = BUILTINS["transformer"]
    floor = loss_floor(s.data)
    assert floor_line(s, None) == f"loss floor (entropy rate) {floor:.3f} nats"
    assert 0 < floor < math.log(s.data.vocab)
    other = settings_for(s, threads=1).with_(seed=s.data.seed + 1)
    assert floor_line(s, other) == (
        f"loss floor (entropy rate) {loss_floor(s.data, s.data.seed + 1):.3f} nats")
    assert "vocab 32" in describe_data(s) and "sequences of 32" in describe_data(s)
    assert floor_line(BUILTINS["mlp"], None) is None
