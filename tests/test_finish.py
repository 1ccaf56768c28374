"""The end-of-run path: build the results once, export them, save them; failures as values."""

from __future__ import annotations

import json

import pytest

from engines import Comparison, settings_for
from engines.results.document import build_results
from engines.results.finish import all_done, finish_run
from scenarios import find, load_builtins

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def fake_state(faults=None):
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=30, isolation="thread", faults=faults or {})
    return Comparison(scenario, settings, FAKE, telemetry=False).run()


def test_a_run_is_built_exported_and_saved_as_one_document(tmp_path):
    state = fake_state()
    end = finish_run(state, export_path=tmp_path / "r.json", runs_folder=tmp_path / "runs")
    assert end.ok and end.export_error is None and end.save_error is None
    assert end.exported == tmp_path / "r.json" and end.saved.parent == tmp_path / "runs"
    # The export, the saved run and the document in hand are the same results.
    exported = json.loads(end.exported.read_text())
    assert exported == json.loads(end.saved.read_text())
    assert exported == json.loads(json.dumps(end.doc))
    assert end.doc["comparison"]["speedup"] == build_results(state)["comparison"]["speedup"]


def test_nothing_is_written_where_no_path_is_given():
    end = finish_run(fake_state())
    assert end.exported is None and end.saved is None and end.ok


def test_a_write_that_fails_is_reported_and_the_other_still_happens(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    end = finish_run(fake_state(), export_path=blocked / "r.json",
                     runs_folder=tmp_path / "runs")
    assert isinstance(end.export_error, OSError) and end.exported is None
    assert not end.ok  # an asked-for export that was not written fails the run
    assert end.saved is not None and end.saved.exists()
    end = finish_run(fake_state(), runs_folder=blocked)
    assert isinstance(end.save_error, OSError) and end.saved is None
    assert end.ok  # saving is a convenience: its failure is a warning, not a failed run


@pytest.mark.parametrize("doc,done", [
    ({"engines": {"a": {"status": "done"}, "b": {"status": "done"}}}, True),
    ({"engines": {"a": {"status": "done"}, "b": {"status": "failed"}}}, False),
    # An infer measurement is two comparisons: the batch-1 one failed.
    ({"engines": {"a": {"status": "done"}},
      "inference": {"runs": {"1": {"a": {"status": "cancelled"}}}}}, False),
    ({"kind": "matrix", "matrix": {"cells": [{"engines": {"a": {"status": "done"}}},
                                             {"engines": {"a": {"status": "unavailable"}}}]}},
     False),
])
def test_all_done_looks_into_every_comparison_of_a_document(doc, done):
    assert all_done(doc) is done


def test_a_failed_engine_is_not_ok():
    end = finish_run(fake_state({"tensorflow": "nan@10"}))
    assert not end.ok and end.doc["engines"]["tensorflow"]["status"] == "failed"
