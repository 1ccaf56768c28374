"""--repeat K (alternating who goes first, per-repeat medians, spread) and --until-confident."""

from __future__ import annotations

import json

import numpy as np

from engines import Comparison, settings_for
from engines.results.document import build_results
from engines.results.repeats import merge_repeats, pooled_speedup, repeat_orders
from scenarios import find, load_builtins
from scenarios.spec import MAX_STEPS
from tui.cli import main

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def test_repeat_orders_alternate():
    assert repeat_orders(["a", "b"], 3) == [["a", "b"], ["b", "a"], ["a", "b"]]


def _run(first, steps=30, **over):
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=steps, isolation="thread", **over)
    return build_results(Comparison(scenario, settings, FAKE, telemetry=False, first=first).run())


def test_merge_repeats():
    docs = [_run("pytorch"), _run("tensorflow"), _run("pytorch")]
    assert [d["order"][0] for d in docs] == ["pytorch", "tensorflow", "pytorch"]
    doc = merge_repeats(docs)
    rep = doc["repeats"]
    assert rep["count"] == 3 and [r["order"][0] for r in rep["runs"]] == \
        ["pytorch", "tensorflow", "pytorch"]
    py = doc["engines"]["pytorch"]
    assert len(py["steps"]) == sum(len(d["engines"]["pytorch"]["steps"]) for d in docs)
    assert {s["repeat"] for s in py["steps"]} == {0, 1, 2}
    assert len(py["summary"]["per_repeat_median_s"]) == 3
    assert py["summary"]["steady_steps"] == sum(
        d["engines"]["pytorch"]["summary"]["steady_steps"] for d in docs)
    sp = doc["comparison"]["speedup"]
    assert sp["faster"] == "pytorch" and sp["repeats"] == 3
    assert sp["ci95"][0] <= sp["ratio"] <= sp["ci95"][1]
    assert len(sp["per_repeat_ratio"]) == 3
    # Seeded fakes: the repeats differ only in how many steps the faster one fits in.
    assert rep["ratio_spread"]["rel_range"] < 0.05
    assert [w["key"] for w in doc["fairness"]["warnings"] if w["level"] == "warning"] == \
        ["simulated"]
    json.dumps(doc, allow_nan=False)


def test_pooled_speedup_orients_per_repeat_ratios():
    runs = {"a": [np.full(20, 1.0), np.full(20, 1.0)], "b": [np.full(20, 2.0), np.full(20, 3.0)]}
    sp = pooled_speedup(runs)
    assert sp["faster"] == "a" and sp["ratio"] == 2.5  # pooled medians 1.0 and 2.5
    assert sp["ci95"][0] >= 2.0 and sp["ci95"][1] <= 3.0


def test_cli_repeat(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code = main(["--no-tui", "--fake", "--scenario", "regression", "--steps", "25",
                 "--repeat", "2", "--in-process", "--no-telemetry", "--no-save",
                 "--export", str(out_json)])
    assert code == 0
    out = capsys.readouterr().out
    assert "[repeat 1/2, PyTorch first]" in out and "[repeat 2/2, TensorFlow first]" in out
    assert "per-repeat medians" in out and "ratio across repeats" in out
    assert json.loads(out_json.read_text())["repeats"]["count"] == 2
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--repeat", "0"]) == 2


def test_repeats_measured_in_paired_turns_pool_the_pair_ratios_over_repeats():
    docs = [_run("pytorch", steps=400), _run("tensorflow", steps=400)]
    assert all(d["comparison"]["speedup"]["paired"] for d in docs)
    sp = merge_repeats(docs)["comparison"]["speedup"]
    assert sp["paired"] and sp["repeats"] == 2 and sp["pairs"] >= 2 * 3
    assert sp["faster"] == "pytorch" and 1.4 < sp["ratio"] < 1.6  # fakes: 3 ms vs 2 ms
    assert sp["ci95"][0] <= sp["ratio"] <= sp["ci95"][1]
    assert "t interval over the repeats" in sp["method"]


def test_until_confident_stops_once_the_interval_is_tight():
    scenario = find("mlp", load_builtins())
    cap = MAX_STEPS  # never reached: it stops once confident
    settings = settings_for(scenario, steps=cap, isolation="thread", slice_s=0.2)
    comp = Comparison(scenario, settings, FAKE, telemetry=False, until_confident=5.0)
    state = comp.run()
    doc = build_results(state)
    sp = doc["comparison"]["speedup"]
    assert sp["paired"] and sp["confident"] and sp["half_width"] <= 0.05
    until = sp["until_confident"]
    assert until["pct"] == 5.0 and until["confident_after_s"] is not None
    assert until["pairs"] >= 5
    for es in state.engines.values():
        assert es.status == "done" and es.steps_done < cap
    # The last pair is complete: both engines had the same number of turns.
    assert comp.turns["pytorch"] == comp.turns["tensorflow"]


def test_until_confident_ends_when_the_slower_engine_reaches_its_steps():
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=400, isolation="thread", slice_s=0.2)
    # A target no run can meet: the run ends when the slower engine reaches --steps, with the
    # last pair complete (the faster one never goes on alone).
    comp = Comparison(scenario, settings, FAKE, telemetry=False, until_confident=1e-9)
    state = comp.run()
    assert min(es.steps_done for es in state.engines.values()) >= 400
    assert comp.turns["pytorch"] == comp.turns["tensorflow"]
    until = build_results(state)["comparison"]["speedup"]["until_confident"]
    assert until["confident_after_s"] is None


def test_cli_until_stable_is_until_confident_with_its_default_cap(capsys):
    code = main(["--no-tui", "--fake", "--scenario", "regression", "--until-stable",
                 "--in-process", "--no-telemetry", "--no-save"])
    assert code == 0
    out = capsys.readouterr().out
    assert "5000 steps max (until the speed-up is within +-5 %)" in out
    assert "verdict confident (+-5 %) after" in out


def test_cli_until_confident_refuses_what_it_cannot_do(capsys):
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--until-confident", "0"]) == 2
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--until-confident", "nan"]) == 2
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--until-confident",
                 "--schedule", "sequential"]) == 2
    err = capsys.readouterr().err
    assert "percentage" in err and "alternate schedule" in err
