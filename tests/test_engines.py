"""Engine contract, hosting, scheduling and failure handling, with the seeded fake engine."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest

from engines import Comparison, build_results, export, settings_for
from engines.run.turns import Turnstile
from scenarios import load_builtins

FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


@pytest.fixture(scope="module")
def mlp():
    return load_builtins()[0]


def run(mlp, isolation="process", steps=40, **kw):
    settings = settings_for(mlp, steps=steps, threads=1, isolation=isolation, **kw)
    comp = Comparison(mlp, settings, FAKES, telemetry=False)
    return comp, comp.run()


def child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def start_slow(mlp, **overrides) -> Comparison:
    """Start a long run of two fakes that really sleep 20 ms a step (time to act mid-run)."""
    settings = settings_for(mlp, steps=100000, threads=1,
                            faults={"pytorch": "slow", "tensorflow": "slow"}, **overrides)
    comp = Comparison(mlp, settings, FAKES, telemetry=False)
    comp.start()
    return comp


def wait_for_steps(comp: Comparison, name: str, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while comp.state.engines[name].steps_done < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert comp.state.engines[name].steps_done >= n


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_both_engines_finish_with_every_step_in_order(mlp, isolation):
    comp, state = run(mlp, isolation)
    doc = build_results(state)
    assert state.exit_code() == 0
    for name, e in doc["engines"].items():
        assert e["status"] == "done" and e["error"] is None
        steps = e["steps"]
        # Paired turns: the faster engine goes on taking turns while the slower one needs them.
        assert len(steps) >= 40 and [s["step"] for s in steps] == list(range(len(steps)))
        assert steps[0]["phase"] == "first"
        assert [s["phase"] for s in steps[1:6]] == ["warmup"] * 4 or \
            {s["phase"] for s in steps[1:5]} == {"warmup"}
        assert {s["phase"] for s in steps[6:]} <= {"steady", "resume"}
        assert set(e["phases_s"]) >= {"import", "build", "first_step", "warmup"}
        assert e["summary"]["steps_done"] == len(steps)
    par = doc["comparison"]["parity"]
    assert par["steps_compared"] == min(len(e["steps"]) for e in doc["engines"].values())
    assert par["within_tolerance"] is True
    assert doc["comparison"]["speedup"]["faster"] == "pytorch"  # the fake pytorch is 2 ms/step


def test_warmup_steps_are_labelled_and_kept_out_of_the_summary(mlp):
    settings = settings_for(mlp, steps=30, threads=1, warmup_steps=3)
    comp = Comparison(mlp, settings, FAKES, telemetry=False)
    state = comp.run()
    es = state.engines["pytorch"]
    phases = build_results(state)["engines"]["pytorch"]["steps"]
    assert [p["phase"] for p in phases[:5]] == ["first", "warmup", "warmup", "warmup", "steady"]
    assert len(es.steady_times()) == sum(p["phase"] == "steady" for p in phases)
    assert len(es.steady_times()) >= 26


@pytest.mark.parametrize("fault,status,words", [
    ("nan@7", "failed", "NaN at step 7"),
    ("error@3", "failed", "simulated framework error"),
    ("oom@4", "failed", "out of memory"),
    ("crash@5", "failed", "died unexpectedly (exit code 139)"),
    ("unavailable", "unavailable", "not installed"),
])
def test_one_engine_failing_leaves_the_other_running(mlp, tmp_path, fault, status, words):
    comp, state = run(mlp, faults={"tensorflow": fault})
    tf, pt = state.engines["tensorflow"], state.engines["pytorch"]
    assert tf.status == status and words in tf.error
    # Alone from the start (unavailable) it does exactly the run's steps; otherwise it paired
    # turns with the other until that one failed.
    assert pt.status == "done" and pt.steps_done >= 40
    assert pt.steps_done == 40 or status != "unavailable"
    assert state.exit_code() == 1
    # The results so far are still exported, atomically.
    path = export(state, tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["engines"]["tensorflow"]["status"] == status
    assert doc["engines"]["tensorflow"]["error"] == tf.error
    assert len(doc["engines"]["pytorch"]["steps"]) == pt.steps_done
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_nan_step_is_recorded_before_the_engine_stops(mlp):
    _, state = run(mlp, faults={"pytorch": "nan@10"})
    doc = build_results(state)
    steps = doc["engines"]["pytorch"]["steps"]
    assert len(steps) == 11 and steps[-1]["loss"] is None  # NaN exported as null, never as NaN


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_cancel_stops_both_within_two_seconds_and_leaves_no_process(mlp, isolation):
    before = child_pids()
    comp = start_slow(mlp, isolation=isolation)
    wait_for_steps(comp, "pytorch", 5)
    t0 = time.monotonic()
    comp.cancel()
    assert comp.wait(timeout=5.0)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, f"cancel took {elapsed:.2f} s"
    assert {es.status for es in comp.state.engines.values()} == {"cancelled"}
    time.sleep(0.2)
    assert child_pids() - before == set()


@pytest.mark.slow
def test_alternate_schedule_takes_turns_and_marks_resume_steps(mlp):
    # Slow fakes really sleep 20 ms a step; with 0.2 s turns each engine resumes several times.
    settings = settings_for(mlp, steps=40, threads=1, slice_s=0.2,
                            faults={"pytorch": "slow", "tensorflow": "slow"})
    comp = Comparison(mlp, settings, FAKES, telemetry=False)
    state = comp.run()
    for es in state.engines.values():
        phases = [p["phase"] for p in build_results(state)["engines"][es.name]["steps"]]
        assert phases.count("resume") >= 2
    # Turns do not overlap: each engine's steps form blocks separated in wall time.
    a, b = state.engines["pytorch"].wall, state.engines["tensorflow"].wall
    assert a[-1] > b[0] and b[-1] > a[0]


def test_turnstile_orders_alternate_and_sequential():
    cancel = threading.Event()
    t = Turnstile(["a", "b"], "sequential")
    t.mark_ready("a")
    t.mark_ready("b")
    assert t.wait_turn("a", cancel)
    t.end_turn("a")
    assert t.holder == "a"  # sequential: a keeps the turn until it ends
    t.mark_ended("a")
    assert t.holder == "b"
    alt = Turnstile(["a", "b"], "alternate")
    alt.mark_ready("a")
    alt.mark_ready("b")
    sequence = []
    for _ in range(8):  # counterbalanced: A B | B A | A B | B A
        sequence.append(alt.holder)
        alt.end_turn(alt.holder)
    assert "".join(sequence) == "abbaabba"
    alt.mark_ended("b")  # an engine that ended is skipped from then on
    assert alt.holder == "a"
    alt.end_turn("a")
    assert alt.holder == "a"
    three = Turnstile(["a", "b", "c"], "alternate")
    order = []
    for _ in range(6):
        order.append(three.holder)
        three.end_turn(three.holder)
    assert "".join(order) == "abccba"
    cancel.set()
    assert not alt.wait_turn("b", cancel)


def test_settings_are_validated(mlp):
    with pytest.raises(ValueError, match="mode"):
        settings_for(mlp, mode="turbo")
    with pytest.raises(ValueError, match="steps"):
        settings_for(mlp, steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        settings_for(mlp, batch_size=10**6)


def test_engine_process_killed_from_outside_is_reported_as_such(mlp):
    # What the kernel's OOM killer does: SIGKILL the engine's process mid-run.
    import os
    import signal

    comp = start_slow(mlp, schedule="parallel")
    wait_for_steps(comp, "tensorflow", 3)
    os.kill(comp.state.engines["tensorflow"].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not comp.state.engines["tensorflow"].finished and time.monotonic() < deadline:
        time.sleep(0.05)
    tf = comp.state.engines["tensorflow"]
    assert tf.status == "failed" and "SIGKILL" in tf.error and "out-of-memory" in tf.error
    # The other engine is still training.
    n = comp.state.engines["pytorch"].steps_done
    time.sleep(0.5)
    assert comp.state.engines["pytorch"].steps_done > n
    assert comp.state.engines["pytorch"].status == "running"
    comp.cancel()
    assert comp.wait(timeout=5)


def test_resume_marks_only_steps_that_follow_another_engines_turn(mlp):
    # One engine alone, cut into many slices: nobody else ran, so no step is a 'resume'
    # (it would be dropped from the statistics for nothing).
    settings = settings_for(mlp, steps=30, threads=1, slice_s=0.1, faults={"pytorch": "slow"})
    comp = Comparison(mlp, settings, {"pytorch": "fake:pytorch"}, telemetry=False)
    state = comp.run()
    phases = [p["phase"] for p in build_results(state)["engines"]["pytorch"]["steps"]]
    assert "resume" not in phases and phases.count("steady") == 30 - 1 - settings.warmup_steps


def test_no_schedule_lets_an_engine_step_before_the_other_is_ready():
    cancel = threading.Event()
    t = Turnstile(["a", "b"], "parallel")
    t.mark_ready("a")
    waited: list[bool] = []
    th = threading.Thread(target=lambda: waited.append(t.wait_turn("a", cancel)))
    th.start()
    th.join(0.3)
    assert th.is_alive()  # b is still importing: a must not start its timed steps
    t.mark_ready("b")
    th.join(2)
    assert waited == [True]
