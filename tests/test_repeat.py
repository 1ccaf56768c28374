"""--repeat K (alternating who goes first, per-repeat medians, spread) and --until-stable."""

from __future__ import annotations

import json

import numpy as np

from engines import Comparison, settings_for
from engines.results.document import build_results
from engines.results.repeats import merge_repeats, pooled_speedup, repeat_orders
from scenarios import find, load_builtins
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
    assert len(py["steps"]) == 90 and {s["repeat"] for s in py["steps"]} == {0, 1, 2}
    assert len(py["summary"]["per_repeat_median_s"]) == 3
    assert py["summary"]["steady_steps"] == sum(
        d["engines"]["pytorch"]["summary"]["steady_steps"] for d in docs)
    sp = doc["comparison"]["speedup"]
    assert sp["faster"] == "pytorch" and sp["repeats"] == 3
    assert sp["ci95"][0] <= sp["ratio"] <= sp["ci95"][1]
    assert len(sp["per_repeat_ratio"]) == 3
    assert rep["ratio_spread"]["rel_range"] == 0.0  # seeded fakes repeat exactly
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


def test_until_stable_stops_early_when_both_are_stable():
    scenario = find("mlp", load_builtins())
    cap = 1_000_000  # fake steps take microseconds: a turn of 1 ms is hundreds of steps
    settings = settings_for(scenario, steps=cap, isolation="thread", slice_s=0.001)
    comp = Comparison(scenario, settings, FAKE, telemetry=False, until_stable=True)
    state = comp.run()
    doc = build_results(state)
    stab = doc["comparison"]["stability"]
    assert stab["until_stable"] is True and stab["stable"] == {"pytorch": True,
                                                              "tensorflow": True}
    for name, es in state.engines.items():
        assert es.status == "done"
        assert 30 <= es.steps_done < cap
        assert stab["stopped_at_step"][name] == es.steps_done
        assert comp.turns[name] >= 2  # both took turns before stopping


def test_until_stable_keeps_stepping_while_unstable():
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=120, isolation="thread", slice_s=0.005)
    # More steady steps required than can ever be done: never stable, runs to the cap.
    comp = Comparison(scenario, settings, FAKE, telemetry=False, until_stable=True,
                      min_stable_steps=10_000)
    state = comp.run()
    assert all(es.steps_done == 120 for es in state.engines.values())
    assert build_results(state)["comparison"]["stability"]["stopped_at_step"] == \
        {"pytorch": None, "tensorflow": None}


def test_cli_until_stable_default_cap(capsys):
    code = main(["--no-tui", "--fake", "--scenario", "regression", "--until-stable",
                 "--in-process", "--no-telemetry", "--no-save"])
    assert code == 0
    assert "5000 steps max (until stable)" in capsys.readouterr().out
