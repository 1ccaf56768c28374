"""Held-out evaluations end to end with the seeded fake engines: the session evaluates every
`eval_every` steps inside the engine's turn, apart from the step times; the event crosses the
pipe; RunState, the results document, the verdicts and the reports carry it. Also the
statistical parity of runs with dropout. No framework needed."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
from test_digits import with_dropout  # noqa: F401  (a fixture)

from engines import Comparison, build_results, settings_for
from engines.fake_engine import FakeEngine
from engines.hosting.protocol import Evaluation, StageChanged, StepRecords
from engines.hosting.session import EngineSession
from engines.results.fairness import fairness_report
from engines.results.verdicts import (
    SMOOTHING_WINDOW,
    STATISTICAL_BAND,
    evaluation_parity,
    moving_median,
    parity,
    statistical_parity,
)
from scenarios import find, load_builtins
from tui.live_model import DashboardModel
from tui.live_stats import StatisticalParityTracker
from tui.reports import summary_table
from tui.testing import app_for, run_complete, screen_text, settle, wait_for
from tui.widgets.engine_column import render_view
from tui.widgets.parity_meter import render_parity

pytestmark = pytest.mark.timeout(120)

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


@pytest.fixture(scope="module")
def digits():
    return find("digits", load_builtins())


def session_events(scenario, **overrides):
    settings = settings_for(scenario, threads=1, isolation="thread", **overrides)
    session = EngineSession(FakeEngine("pytorch"), scenario, settings)
    events: list = []
    session.prepare(events.append)
    assert session.run(settings.steps, math.inf, events.append) is True
    return events


def test_the_session_evaluates_every_n_steps_and_after_the_last(digits):
    events = session_events(digits, steps=120)
    evaluations = [e for e in events if isinstance(e, Evaluation)]
    assert [e.step for e in evaluations] == [50, 100, 120]
    steps_before = []
    done = 0
    for e in events:  # every evaluation comes after the records of the steps it follows
        if isinstance(e, StepRecords):
            done = e.records[-1].step + 1
        elif isinstance(e, Evaluation):
            steps_before.append(done)
    assert steps_before == [50, 100, 120]
    stages = [e.stage for e in events if isinstance(e, StageChanged)]
    assert stages.count("evaluating") == 3 and stages[-1] == "running"
    first = evaluations[0]
    assert 0 < first.accuracy <= 1 and first.loss > 0 and first.time_s >= 0


def test_an_evaluation_is_not_a_step_and_the_step_after_it_is_kept_out_of_statistics(digits):
    events = session_events(digits, steps=120)
    records = [r for e in events if isinstance(e, StepRecords) for r in e.records]
    assert [r.step for r in records] == list(range(120))
    phases = {r.step: r.phase for r in records}
    assert phases[50] == "resume" and phases[100] == "resume"
    assert phases[49] == "steady" and phases[51] == "steady"


def test_no_evaluation_without_eval_every_or_in_an_inference_run(digits):
    mlp = find("mlp", load_builtins())
    assert not [e for e in session_events(mlp, steps=60) if isinstance(e, Evaluation)]
    infer = session_events(digits, steps=60, task="infer")
    assert not [e for e in infer if isinstance(e, Evaluation)]


def test_an_evaluation_crosses_the_pipe_as_itself():
    ev = Evaluation(50, 0.4125, 0.9331, 0.0123)
    back = pickle.loads(ForkingPickler.dumps(ev))
    assert type(back) is Evaluation and back == ev
    assert back.to_dict() == {"step": 50, "loss": 0.4125, "accuracy": 0.9331, "time_s": 0.0123}


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_evaluations_reach_the_run_state_and_the_export_per_engine(digits, isolation):
    settings = settings_for(digits, steps=150, threads=1, isolation=isolation)
    state = Comparison(digits, settings, FAKES, telemetry=False).run()
    assert state.exit_code() == 0
    doc = build_results(state)
    for name, e in doc["engines"].items():
        evaluations = e["evaluations"]
        done = e["summary"]["steps_done"]
        # Every 50 steps (paired turns may take an engine past the run's 150 steps).
        assert [ev["step"] for ev in evaluations][:3] == [50, 100, 150]
        assert all(ev["step"] % 50 == 0 or ev["step"] == done for ev in evaluations)
        assert set(evaluations[0]) == {"step", "loss", "accuracy", "time_s"}
        # Accuracy rises as the simulated loss falls.
        assert evaluations[-1]["accuracy"] > evaluations[0]["accuracy"]
        # Evaluations are not steps: the step list and the summary count steps only.
        assert len(e["steps"]) == done >= 150
    held = doc["comparison"]["evaluation_parity"]
    common = min(len(e["evaluations"]) for e in doc["engines"].values())
    assert held["evaluations_compared"] >= 3 and held["within_tolerance"] is True
    assert held["method"] == "exact" and held["max_rel_loss_diff"] < 1e-6
    text = summary_table(doc)
    assert "held-out acc" in text.splitlines()[0]
    assert f"held-out: OK: {held['evaluations_compared']} evaluations agree" in text
    assert held["evaluations_compared"] <= common


def test_a_run_without_evaluations_exports_as_before():
    mlp = find("mlp", load_builtins())
    settings = settings_for(mlp, steps=20, threads=1, isolation="thread")
    doc = build_results(Comparison(mlp, settings, FAKES, telemetry=False).run())
    assert all("evaluations" not in e for e in doc["engines"].values())
    assert "evaluation_parity" not in doc["comparison"]
    assert doc["comparison"]["parity"]["method"] == "exact"
    assert "held-out" not in summary_table(doc)


# -- verdicts ---------------------------------------------------------------------------------

def evals(losses, steps=None, accuracy=0.9):
    steps = steps or [50 * (i + 1) for i in range(len(losses))]
    return [Evaluation(s, loss, accuracy, 0.01) for s, loss in zip(steps, losses)]


def test_held_out_losses_are_judged_like_training_losses():
    a = evals([1.0, 0.5, 0.3])
    same = evaluation_parity(a, evals([1.0 + 1e-6, 0.5, 0.3]), "sgd")
    assert same["within_tolerance"] is True and same["evaluations_compared"] == 3
    # Within the first 50 steps the strict bound holds: 1e-3 off is a mismatch there...
    early = evaluation_parity(a, evals([1.001, 0.5, 0.3]), "sgd")
    assert early["within_tolerance"] is False
    # ...but later evaluations get the drift bound (2e-2).
    late = evaluation_parity(a, evals([1.0, 0.505, 0.3]), "sgd")
    assert late["within_tolerance"] is True
    assert evaluation_parity(a, evals([1.0, 0.5, 0.35]), "sgd")["within_tolerance"] is False
    # Evaluations are paired by step: one engine may have stopped earlier.
    assert evaluation_parity(a, evals([1.0]), "sgd")["evaluations_compared"] == 1
    acc = evaluation_parity(a, [replace(e, accuracy=0.88) for e in a], "sgd")
    assert acc["max_abs_accuracy_diff"] == pytest.approx(0.02) and acc["within_tolerance"]
    nan = evaluation_parity(a, evals([1.0, math.nan, 0.3]), "sgd")
    assert nan["within_tolerance"] is False and nan["max_rel_loss_diff"] is None
    assert evaluation_parity([], [], "sgd")["within_tolerance"] is None


def noisy_curve(seed: int, n: int = 300, noise: float = 0.08) -> np.ndarray:
    """A falling loss curve with dropout-like noise of its own on every step."""
    k = np.arange(n)
    base = 0.3 + 2.0 * np.exp(-k / 60)
    return base * (1 + noise * np.random.default_rng(seed).standard_normal(n))


def test_statistical_parity_accepts_other_masks_and_flags_other_work():
    a, b = noisy_curve(1), noisy_curve(2)
    assert parity(a, b, "sgd")["within_tolerance"] is False  # never exact with dropout
    ok = parity(a, b, "sgd", statistical=True)
    assert ok["method"] == "statistical" and ok["within_tolerance"] is True
    assert ok["window"] == SMOOTHING_WINDOW and ok["tolerance"] == STATISTICAL_BAND
    assert ok["early_tolerance"] is None and "dropout" in ok["note"]
    # A curve that learns three times as slowly is outside the band.
    k = np.arange(300)
    noise = 1 + 0.08 * np.random.default_rng(3).standard_normal(300)
    slow = (0.3 + 2.0 * np.exp(-k / 180)) * noise
    assert statistical_parity(a, slow)["within_tolerance"] is False
    assert statistical_parity(a, a * 1.5)["within_tolerance"] is False
    nan = a.copy()
    nan[100] = math.nan
    assert statistical_parity(nan, b)["within_tolerance"] is False
    short = statistical_parity(a[:5], b[:5])
    assert short["window"] == 5 and short["within_tolerance"] is not None


def test_the_statistical_band_is_a_fraction_of_the_starting_loss():
    a = np.full(100, 2.0)
    b = np.full(100, 2.0)
    b[50:] = 2.0 - 0.9 * 2.0 * STATISTICAL_BAND  # 90 % of the band below
    within = statistical_parity(a, b)
    assert within["within_tolerance"] is True
    assert within["max_rel_loss_diff"] == pytest.approx(0.9 * STATISTICAL_BAND)
    b[50:] = 2.0 - 1.1 * 2.0 * STATISTICAL_BAND
    assert statistical_parity(a, b)["within_tolerance"] is False


def test_moving_median_uses_complete_trailing_windows():
    np.testing.assert_array_equal(moving_median(np.array([5, 1, 3, 9, 7]), 3), [3, 3, 7])
    assert moving_median(np.array([1.0, 2.0]), 3).size == 0


@pytest.mark.parametrize("chunks", [[300], [1] * 300, [7, 13, 1, 100, 179], [20, 1, 279]])
def test_the_live_statistical_tracker_agrees_with_the_final_verdict(chunks):
    a, b = noisy_curve(4), noisy_curve(5) * 1.02
    ref = statistical_parity(a, b)
    tracker = StatisticalParityTracker()
    start = 0
    for size in chunks:
        tracker.add(a[start:start + size], b[start:start + size])
        start += size
    assert tracker.compared == 300 and tracker.method == "statistical"
    assert tracker.max_rel == pytest.approx(ref["max_rel_loss_diff"], rel=1e-12)
    assert tracker.scale == pytest.approx(ref["scale"])
    assert tracker.within_tolerance is ref["within_tolerance"]


def test_the_live_tracker_waits_for_a_full_window():
    tracker = StatisticalParityTracker()
    tracker.add(np.ones(SMOOTHING_WINDOW - 1), np.ones(SMOOTHING_WINDOW - 1))
    assert tracker.within_tolerance is None and tracker.compared == SMOOTHING_WINDOW - 1
    tracker.add(np.ones(1), np.ones(1))
    assert tracker.within_tolerance is True and tracker.max_rel == 0.0


# -- what the user reads ----------------------------------------------------------------------

def statistical_doc(within: bool) -> dict:
    a, b = noisy_curve(1), noisy_curve(2)
    par = statistical_parity(a, b if within else b * 1.5)
    return {"engines": {}, "settings": {"task": "train", "mode": "eager",
                                        "schedule": "alternate", "device": "cpu",
                                        "threads": 1, "batch_size": 64,
                                        "isolation": "process"},
            "comparison": {"parity": par}}


@pytest.mark.parametrize("within", [True, False])
def test_the_headless_parity_line_says_statistical_never_ok(within):
    line = next(t for t in summary_table(statistical_doc(within)).splitlines()
                if t.startswith("parity:"))
    assert line.startswith("parity: STATISTICAL (not exact), ")
    assert ("IN BAND" if within else "OUT OF BAND") in line
    assert "OK" not in line and "within tolerance" not in line
    assert f"moving medians over {SMOOTHING_WINDOW} steps" in line


def test_the_fairness_report_notes_a_statistical_check():
    report = fairness_report(statistical_doc(True))
    notes = [w for w in report.warnings if w.key == "statistical_parity"]
    assert len(notes) == 1 and notes[0].level == "note" and "statistical" in notes[0].text
    assert any("checked statistically" in m for m in report.measures)


def test_the_parity_meter_says_statistical_and_never_within(digits):
    model = DashboardModel(digits, settings_for(digits, threads=1), ["pytorch", "tensorflow"])
    model.parity = tracker = StatisticalParityTracker()
    a, b = noisy_curve(1), noisy_curve(2)
    tracker.add(a[:10], b[:10])
    waiting = render_parity(model.parity_view(), 100).plain
    assert "statistical" in waiting and "waiting for a full smoothing window" in waiting
    tracker.add(a[10:], b[10:])
    for width in (80, 100, 120):
        line = render_parity(model.parity_view(), width).plain
        assert line.startswith("Parity   statistical ") and "≈ in band" in line, line
        assert "within" not in line and "✓" not in line and len(line) <= width
    tracker.add(np.full(50, 10.0), np.full(50, 1.0))
    assert "✗ OUT OF BAND" in render_parity(model.parity_view(), 100).plain


def test_the_engine_column_shows_held_out_accuracy_only_where_the_run_evaluates(digits):
    model = DashboardModel(digits, settings_for(digits, threads=1), ["pytorch", "tensorflow"])
    waiting = render_view(model.engine_view("pytorch"), 40).plain
    assert "held-out waiting for the first evaluation" in waiting
    model.tracks["pytorch"].evaluations.append(Evaluation(300, 0.1234, 0.9612, 0.01))
    text = render_view(model.engine_view("pytorch"), 40).plain
    assert "held-out acc 96.1%  loss 0.1234  @ step 300" in text
    mlp = find("mlp", load_builtins())
    plain = DashboardModel(mlp, settings_for(mlp, threads=1), ["pytorch", "tensorflow"])
    assert "held-out" not in render_view(plain.engine_view("pytorch"), 40).plain


def test_a_live_run_with_dropout_in_its_layers_gets_the_fairness_note(with_dropout):  # noqa: F811
    doc = {"settings": {"task": "train"}, "engines": {}, "comparison": {},
           "scenario": {"layers": [{"type": "block", "layers": [
               {"type": "dense", "units": 8}, {"type": "dropout", "rate": 0.2}]}]}}
    assert any(w.key == "statistical_parity" for w in fairness_report(doc).warnings)
    infer = {**doc, "settings": {"task": "infer"}}  # no masks in inference
    assert not any(w.key == "statistical_parity" for w in fairness_report(infer).warnings)
    off = {**doc, "scenario": {"layers": [{"type": "dropout", "rate": 0.0}]}}
    assert not any(w.key == "statistical_parity" for w in fairness_report(off).warnings)


DROPOUT_TOML = """
name = "mlp-dropout"
[data]
kind = "teacher"
samples = 1024
input_shape = [16]
classes = 4
[model]
layers = [
  { type = "dense", units = 32, activation = "relu" },
  { type = "dropout", rate = 0.3 },
  { type = "dense", units = 4 },
]
[train]
optimizer = "sgd"
learning_rate = 0.05
batch_size = 64
steps = 200
loss = "cross_entropy"
"""


@pytest.mark.slow
async def test_the_dashboard_says_statistical_for_a_run_with_dropout(
        with_dropout, tmp_path):  # noqa: F811
    path = tmp_path / "dropout.toml"
    path.write_text(DROPOUT_TOML, encoding="utf-8")
    app = app_for("--in-process", "--no-telemetry", "--scenario-file", str(path),
                  "--steps", "120")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: run_complete(app), timeout=30)
        await settle(pilot)
        text = screen_text(app)
    parity_line = next(line for line in text.splitlines() if "Parity" in line)
    assert "Parity   statistical" in parity_line and "≈ in band" in parity_line
    assert "within" not in parity_line and "✓" not in parity_line
    fairness_line = next(line for line in text.splitlines() if "Fairness" in line)
    assert "loss parity is statistical" in fairness_line
