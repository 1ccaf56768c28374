"""Paired turns end to end with the seeded fakes: the turn record, A/A runs, the calibration
quoted in results, and the live verdict on the dashboard's model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines import Comparison, settings_for
from engines.results.calibration import load_calibration
from engines.results.document import build_results
from scenarios import find, load_builtins
from tui.cli import main
from tui.live_model import DashboardModel

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def _mlp():
    return find("mlp", load_builtins())


def test_turns_alternate_abba_and_every_step_records_its_turn():
    s = _mlp()
    state = Comparison(s, settings_for(s, steps=400, isolation="thread"), FAKE,
                       telemetry=False).run()
    doc = build_results(state)
    for e in doc["engines"].values():
        turns = [st["turn"] for st in e["steps"]]
        assert turns == sorted(turns) and turns[0] == 0  # turn numbers only grow
    sp = doc["comparison"]["speedup"]
    assert sp["paired"] and sp["pairs"] >= 3 and sp["doubts"] == []


@pytest.mark.slow
def test_turns_really_follow_the_counterbalanced_order_in_time():
    # Slow fakes really sleep 20 ms a step, so their wall times are real: 0.2 s turns.
    s = _mlp()
    settings = settings_for(s, steps=30, isolation="thread",
                            faults={"pytorch": "slow", "tensorflow": "slow"})
    state = Comparison(s, settings, FAKE, telemetry=False).run()
    blocks = []
    for name, es in state.engines.items():
        turns = np.frombuffer(es.turns, np.int64)
        wall = np.frombuffer(es.wall, np.float64)
        blocks += [(wall[turns == k].min(), name) for k in np.unique(turns)]
    order = "".join("p" if n == "pytorch" else "t" for _, n in sorted(blocks))
    assert order.startswith("pttp") and len(order) >= 6, order


def test_a_a_run_compares_one_engine_with_its_twin(tmp_path, capsys):
    out = tmp_path / "aa.json"
    code = main(["--no-tui", "--fake", "--aa", "--scenario", "mlp", "--steps", "400",
                 "--in-process", "--no-telemetry", "--no-save", "--export", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "PyTorch (twin)" in text
    doc = json.loads(out.read_text())
    assert set(doc["engines"]) == {"pytorch", "pytorch-aa"}
    assert {e["implementation"] for e in doc["engines"].values()} == {"fake:pytorch"}
    sp = doc["comparison"]["speedup"]
    assert sp["ci95"][0] <= 1.0 <= sp["ci95"][1]  # the same engine: no difference


def test_the_calibration_file_is_quoted_and_a_bad_one_is_ignored(tmp_path, monkeypatch):
    cal = tmp_path / "calibration.json"
    monkeypatch.setenv("FWCOMPARE_CALIBRATION", str(cal))
    cal.write_text(json.dumps({"aa_coverage": 0.95, "aa_runs": 40, "ab_coverage": 0.9,
                               "ab_runs": 40, "cpu": "x", "measured": 1.0e9}))
    out = tmp_path / "r.json"
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--steps", "400", "--in-process",
                 "--no-telemetry", "--no-save", "--export", str(out)]) == 0
    quoted = json.loads(out.read_text())["comparison"]["speedup"]["calibration"]
    assert quoted["aa_coverage"] == 0.95 and quoted["ab_runs"] == 40
    for junk in ("[]", "{", '{"aa_coverage": 7}', '{"aa_coverage": "0.9"}', "\x00" * 10):
        cal.write_text(junk)
        assert load_calibration(cal) is None
    assert load_calibration(tmp_path / "missing.json") is None


def test_the_live_model_shows_the_paired_verdict_and_when_it_became_confident():
    s = _mlp()
    settings = settings_for(s, steps=400, isolation="thread")
    comp = Comparison(s, settings, FAKE, telemetry=False)
    state = comp.run()
    model = DashboardModel(s, settings, list(FAKE), telemetry=False)
    model.update(state)
    view = model.speedup_view()
    assert view.paired and view.pairs >= 3 and view.faster == "PyTorch"
    assert 1.4 < view.ratio < 1.6 and view.ci95[0] < view.ratio < view.ci95[1]
    assert view.confident_after_s is not None and view.confident_after_s > 0
    assert view.doubts == ()
