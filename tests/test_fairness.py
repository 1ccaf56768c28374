"""The fairness report: rows per engine, what the run did, and warnings when the sides differ
in something that changes speed."""

from __future__ import annotations

import copy

import pytest

from engines import Comparison, settings_for
from engines.results.document import build_results
from engines.results.fairness import fairness_of_state, fairness_report
from scenarios import find, load_builtins


def _cfg(**over):
    cfg = {"mode": "eager", "device": "cpu", "dtype": "float32", "intra_op_threads": 1,
           "inter_op_threads": 1, "onednn": True, "tf32": False, "xla": False}
    cfg.update(over)
    return cfg


def _doc(torch_cfg=None, tf_cfg=None, **settings_over):
    settings = {"task": "train", "steps": 100, "warmup_steps": 5, "batch_size": 128,
                "mode": "eager", "schedule": "alternate", "isolation": "process",
                "device": "cpu", "threads": 1, "dtype": "float32", "seed": 0, "slice_s": 1.0}
    settings.update(settings_over)
    summary = {"median_step_s": 1e-3, "iqr_step_s": 5e-5, "steady_steps": 90, "unstable": False,
               "outlier_steps": 0}
    return {
        "schema": 1, "kind": "run", "settings": settings,
        "scenario": {"name": "mlp", "data": {"samples": 4096, "seed": 0},
                     "train": {"optimizer": "sgd", "learning_rate": 0.05,
                               "loss": "cross_entropy"}},
        "engines": {
            "pytorch": {"implementation": "pytorch", "status": "done",
                        "versions": {"torch": "2.13.0", "numpy": "2.4"},
                        "config": torch_cfg or _cfg(), "summary": dict(summary)},
            "tensorflow": {"implementation": "tensorflow", "status": "done",
                           "versions": {"tensorflow": "2.21.0", "keras": "3.13"},
                           "config": tf_cfg or _cfg(), "summary": dict(summary)},
        },
        "comparison": {"parity": {"steps_compared": 100, "max_rel_loss_diff": 2e-7,
                                  "within_tolerance": True},
                       "speedup": {"faster": "pytorch", "slower": "tensorflow", "ratio": 1.5,
                                   "ci95": [1.4, 1.6], "unstable": False, "significant": True}},
    }


def _keys(report, level="warning"):
    return {w.key for w in report.warnings if w.level == level}


def test_like_for_like_has_no_warnings():
    r = fairness_report(_doc())
    assert r.warnings == []
    rows = {row.key: row for row in r.rows}
    for key in ("version", "device", "dtype", "threads", "mode", "tf32", "onednn", "xla",
                "batch_size", "sync", "process"):
        assert key in rows
    assert rows["version"].values == {"pytorch": "torch 2.13.0",
                                      "tensorflow": "tensorflow 2.21.0 (keras 3.13)"}
    assert rows["threads"].values["pytorch"] == "1 intra-op / 1 inter-op"
    assert not any(row.flagged for row in r.rows)
    text = " ".join(r.measures)
    for phrase in ("same initial weights", "same batches", "synchronised", "take turns",
                   "warm-up", "own process", "thread budget", "identical work checked"):
        assert phrase in text


def test_xla_on_one_side_only():
    r = fairness_report(_doc(tf_cfg=_cfg(mode="tf.function+XLA", xla=True),
                             torch_cfg=_cfg(mode="torch.compile",
                                            note="XLA is TensorFlow-only; PyTorch runs "
                                                 "torch.compile")))
    assert "xla" in _keys(r)
    xla = next(w for w in r.warnings if w.key == "xla")
    assert xla.text.startswith("XLA on TensorFlow only")
    assert next(row for row in r.rows if row.key == "xla").flagged
    assert "mode" not in _keys(r)  # compiled vs compiled is like with like
    assert any("TensorFlow-only" in w.text for w in r.warnings if w.level == "note")


def test_tf32_on_one_side_only():
    r = fairness_report(_doc(torch_cfg=_cfg(device="cuda:0", tf32=True),
                             tf_cfg=_cfg(device="/GPU:0", tf32=False)))
    assert _keys(r) == {"tf32"}  # cuda:0 and /GPU:0 are the same device
    assert "TF32 on PyTorch only" in r.warnings[0].text


def test_thread_budgets_differ():
    r = fairness_report(_doc(tf_cfg=_cfg(intra_op_threads=2)))
    assert _keys(r) == {"threads"}
    assert "PyTorch 1 intra-op" in r.warnings[0].text and "TensorFlow 2 intra-op" in \
        r.warnings[0].text


def test_eager_against_compiled_and_other_differences():
    r = fairness_report(_doc(tf_cfg=_cfg(mode="tf.function", onednn=False, device="/GPU:0")))
    assert {"mode", "onednn", "device"} <= _keys(r)


def test_run_level_warnings():
    doc = _doc(schedule="parallel", isolation="thread")
    doc["engines"]["tensorflow"]["summary"].update(unstable=True, iqr_step_s=3e-4,
                                                   outlier_steps=4)
    doc["engines"]["pytorch"]["status"] = "failed"
    doc["comparison"]["parity"]["within_tolerance"] = False
    doc["comparison"]["speedup"].update(ci95=[0.9, 1.2], significant=False)
    r = fairness_report(doc)
    assert {"schedule", "status", "parity"} <= _keys(r)
    # A wide spread of one engine's step times is information, not a warning.
    assert {"process", "outliers", "speedup", "spread"} <= _keys(r, "note")
    spread = next(w for w in r.warnings if w.key == "spread")
    assert "30%" in spread.text and "unstable" not in _keys(r)


def test_partial_documents_never_raise():
    doc = _doc()
    del doc["engines"]["tensorflow"]["config"]
    doc["engines"]["tensorflow"]["versions"] = {}
    r = fairness_report(doc)
    assert next(row for row in r.rows if row.key == "xla").values["tensorflow"] == "?"
    assert "xla" not in _keys(r)  # unknown is not a difference
    assert fairness_report({}).rows  # an empty document still gives a (blank) report
    d = fairness_report(copy.deepcopy(doc)).to_dict()
    assert set(d) == {"engines", "rows", "measures", "warnings"}


def test_fake_run_records_fairness_in_the_export():
    scenario = find("mlp", load_builtins())
    # 400 steps: enough paired turns for a calibrated verdict (no "verdict in doubt").
    settings = settings_for(scenario, steps=400, isolation="thread")
    comp = Comparison(scenario, settings, {"pytorch": "fake:pytorch",
                                           "tensorflow": "fake:tensorflow"}, telemetry=False)
    state = comp.run()
    doc = build_results(state)
    fair = doc["fairness"]
    assert [w["key"] for w in fair["warnings"] if w["level"] == "warning"] == ["simulated"]
    assert {r["key"] for r in fair["rows"]} >= {"threads", "xla", "tf32", "mode"}
    live = fairness_of_state(state)
    assert [w.key for w in live.warnings if w.level == "warning"] == ["simulated"]
    assert doc["engines"]["pytorch"]["config"]["intra_op_threads"] == settings.threads


@pytest.mark.parametrize("over, key", [({"xla": True}, "xla"), ({"tf32": True}, "tf32"),
                                       ({"inter_op_threads": 4}, "threads")])
def test_each_speed_relevant_difference_is_flagged(over, key):
    r = fairness_report(_doc(tf_cfg=_cfg(**over)))
    assert key in _keys(r)
    assert next(row for row in r.rows if row.key == key).flagged


def test_too_few_steady_steps_is_said_as_such_not_as_a_spread():
    from engines import Comparison, build_results, settings_for
    from engines.results.fairness import fairness_report
    from scenarios import load_builtins

    s = load_builtins()[0]
    comp = Comparison(s, settings_for(s, steps=3, threads=1, schedule="sequential"),
                      {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"},
                      telemetry=False)
    texts = [w.text for w in fairness_report(build_results(comp.run())).warnings
             if w.key == "unstable"]
    assert texts and all("only 2 steady step(s)" in t for t in texts)
