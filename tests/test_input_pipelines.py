"""The two input pipelines with the real frameworks: the same batches as the numpy reference
(and so as each other), loss parity with them as with batches in memory, and their faults (an
op that raises, a DataLoader worker that dies) ending the engine with a message naming it."""

from __future__ import annotations

import signal
import time

import numpy as np
import psutil
import pytest

from engines.pipelines.feed import InputFailure
from engines.run.runner import Comparison
from engines.settings import settings_for
from scenarios import load_builtins
from scenarios.input import raw_samples, reference_batch

pytestmark = pytest.mark.frameworks


@pytest.fixture(scope="module")
def augmented():
    return next(s for s in load_builtins() if s.name == "cnn-augmented")


def reference(scenario, index):
    raw = raw_samples(scenario.data, scenario.train.batch_size, 0)
    return reference_batch(raw, scenario.input, scenario.data, 0, index)


def torch_feed_for(scenario, **settings):
    torch = pytest.importorskip("torch")
    from engines.pipelines.torch_input import torch_feed

    return torch_feed(scenario, settings_for(scenario, steps=20, **settings),
                      torch.device("cpu"))


def tf_feed_for(scenario, **settings):
    tf = pytest.importorskip("tensorflow")
    from engines.pipelines.tf_input import tf_feed

    return tf_feed(tf, scenario, settings_for(scenario, steps=20, **settings))


@pytest.mark.parametrize("pipeline", ["native", "naive"])
def test_first_batches_of_both_pipelines_equal_the_reference(augmented, pipeline):
    torch_feed = torch_feed_for(augmented, input_pipeline=pipeline, loader_workers=0)
    tf_feed = tf_feed_for(augmented, input_pipeline=pipeline)
    # Past the first epoch too (11 batches of 128): the next epoch's draws differ.
    for index in (0, 1, 2):
        want_x, want_y = reference(augmented, index)
        x, y = torch_feed.next()
        np.testing.assert_allclose(x.numpy(), want_x.transpose(0, 3, 1, 2), atol=1e-6)
        np.testing.assert_array_equal(y.numpy(), want_y)
        tx, ty = tf_feed.next()
        np.testing.assert_allclose(tx.numpy(), want_x, atol=1e-6)
        np.testing.assert_array_equal(ty.numpy(), want_y)
        assert torch_feed.wait_s >= 0 and tf_feed.wait_s >= 0
    epoch = raw_samples(augmented.data, augmented.train.batch_size, 0).batches_per_epoch
    for _ in range(epoch - 3):
        torch_feed.next()
        tf_feed.next()
    x, _ = torch_feed.next()
    tx, _ = tf_feed.next()
    want_x, _ = reference(augmented, epoch)
    np.testing.assert_allclose(tx.numpy(), want_x, atol=1e-6)
    np.testing.assert_allclose(x.numpy(), want_x.transpose(0, 3, 1, 2), atol=1e-6)


def test_dataloader_workers_deliver_the_same_batches_and_leave_no_process(augmented):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    feed = torch_feed_for(augmented, input_pipeline="native", loader_workers=1)
    run = feed.benchmark(1, max_s=0.2)
    assert run.first_batch_s > 0 and run.samples_per_s > 0
    feed.start()
    workers = feed.loader.worker_pids()
    assert len(workers) == 1
    for index in range(3):
        x, _ = feed.next()
        np.testing.assert_allclose(x.numpy(), reference(augmented, index)[0].transpose(
            0, 3, 1, 2), atol=1e-6)
    feed.close()
    assert not psutil.pid_exists(workers[0]) or \
        psutil.Process(workers[0]).status() == psutil.STATUS_ZOMBIE
    assert not [p for p in psutil.Process().children(recursive=True)
                if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
                # multiprocessing's own helper (spawn starts it once; it ends with us)
                and "resource_tracker" not in " ".join(p.cmdline())]


def test_a_killed_dataloader_worker_ends_that_engine_with_a_message(augmented):
    # In the engine's own process (as in a run): torch's SIGCHLD handler, which reports a
    # dead worker, then raises there and not in this test process.
    settings = settings_for(augmented, steps=50_000, warmup_steps=2, input_pipeline="native",
                            loader_workers=1, threads=1)
    comparison = Comparison(augmented, settings, {"pytorch": "pytorch"}, telemetry=False)
    comparison.start()
    try:
        engine = comparison.state.engines["pytorch"]
        workers: list[psutil.Process] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not workers:
            time.sleep(0.2)
            if engine.pid and engine.steps_done > 5:
                workers = [p for p in psutil.Process(engine.pid).children(recursive=True)
                           if "resource_tracker" not in " ".join(p.cmdline())]
        assert workers, f"no DataLoader worker seen (stage {engine.stage})"
        engine_process = psutil.Process(engine.pid)
        for worker in workers:
            worker.kill()
        assert comparison.wait(timeout=30)
    finally:
        comparison.cancel()
        comparison.wait(timeout=10)
    assert engine.status == "failed"
    assert engine.error.startswith("input pipeline: a DataLoader worker process died"), \
        engine.error
    assert any(why in engine.error for why in ("killed by signal", "exited unexpectedly",
                                                "the connection to it broke"))
    assert not engine_process.is_running() or \
        engine_process.status() == psutil.STATUS_ZOMBIE


def test_a_failing_op_is_named_on_both_sides(augmented, monkeypatch):
    from engines.pipelines import tf_input, torch_input

    def broken(torch, x, op, offset, flip):
        raise ValueError("std went missing")

    monkeypatch.setitem(torch_input.TORCH_OPS, "normalize", broken)
    feed = torch_feed_for(augmented, input_pipeline="naive")
    with pytest.raises(InputFailure) as info:
        feed.next()
    assert str(info.value).startswith(
        "input pipeline: [input].preprocess[2] (normalize) failed on sample")
    assert "ValueError: std went missing" in str(info.value)

    def broken_tf(tf, x, op, offset, flip):
        tf.debugging.assert_less(x, -1e9, message="pixel out of range")
        return x

    monkeypatch.setitem(tf_input.TF_OPS, "flip_left_right", broken_tf)
    tf_feed = tf_feed_for(augmented, input_pipeline="native")
    with pytest.raises(InputFailure) as info:
        tf_feed.next()
    assert str(info.value).startswith(
        "input pipeline: [input].preprocess[1] (flip_left_right) failed")


def run(scenario, pipeline, steps=12):
    settings = settings_for(scenario, steps=steps, warmup_steps=2, input_pipeline=pipeline,
                            loader_workers=0, isolation="thread", schedule="sequential",
                            threads=1)
    comparison = Comparison(scenario, settings, {"pytorch": "pytorch",
                                                 "tensorflow": "tensorflow"},
                            telemetry=False)
    return comparison.run()


def test_losses_agree_with_a_pipeline_as_they_do_in_memory(augmented):
    memory = run(augmented, "memory")
    native = run(augmented, "native")
    for name in ("pytorch", "tensorflow"):
        assert native.engines[name].status == "done", native.engines[name].error
        # Same batches, same weights: the pipeline changes nothing in the losses.
        np.testing.assert_allclose(np.array(native.engines[name].losses),
                                   np.array(memory.engines[name].losses), rtol=1e-6)
        assert len(native.engines[name].input_waits) == 12
        assert memory.engines[name].input_waits == type(memory.engines[name].input_waits)("d")
    rel = np.abs(np.array(native.engines["pytorch"].losses)
                 - np.array(native.engines["tensorflow"].losses)) \
        / np.abs(np.array(native.engines["tensorflow"].losses))
    assert rel.max() < 1e-5
    from engines.results.document import build_results

    doc = build_results(native)
    for name in ("pytorch", "tensorflow"):
        block = doc["engines"][name]["input"]
        assert block["first_batch_s"] > 0 and block["loader_samples_per_s"] > 0
        assert 0 <= block["wait_share"] <= 1
        assert block["input_bound"] == (block["wait_share"] > 0.10)
        assert 0 < block["compute_median_s"] and block["model_samples_per_s"] > 0
        assert block["loader_keeps_up"] == (block["loader_samples_per_s"]
                                            >= block["model_samples_per_s"])
        assert doc["engines"][name]["phases_s"]["first_batch"] == block["first_batch_s"]
    assert doc["engines"]["tensorflow"]["input"]["config"]["autotune"] is True
    assert doc["settings"]["input"] == {"pipeline": "native", "workers": 0, "prefetch": "auto"}


@pytest.mark.slow
def test_ctrl_c_with_dataloader_workers_leaves_no_process(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "--no-tui", "--scenario", "cnn-augmented", "--steps",
         "100000", "--input", "native", "--loader-workers", "1", "--engines", "pytorch",
         "--export", str(out), "--no-telemetry", "--no-save"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:  # the engine process and its DataLoader worker
            everything = psutil.Process(proc.pid).children(recursive=True)
            workers = [p for p in everything if p.ppid() != proc.pid
                       and "resource_tracker" not in " ".join(p.cmdline())]
            if workers:
                break
            time.sleep(0.2)
        assert workers, "no DataLoader worker started"
        time.sleep(3.0)  # into the training steps
        everything = psutil.Process(proc.pid).children(recursive=True)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert elapsed < 4.0, f"took {elapsed:.1f} s"
    _, alive = psutil.wait_procs(everything, timeout=2.0)
    assert not [c for c in alive if c.status() != psutil.STATUS_ZOMBIE]
    doc = json.loads(out.read_text())
    assert doc["engines"]["pytorch"]["status"] == "cancelled"


def test_a_failing_op_ends_that_engine_and_not_the_other(augmented, monkeypatch):
    from engines.pipelines import torch_input

    def broken(torch, x, op, offset, flip):
        raise ZeroDivisionError("std is zero")

    monkeypatch.setitem(torch_input.TORCH_OPS, "normalize", broken)
    state = run(augmented, "native", steps=8)
    torch_state, tf_state = state.engines["pytorch"], state.engines["tensorflow"]
    assert torch_state.status == "failed"
    assert torch_state.error.startswith("input pipeline: [input].preprocess[2] (normalize) "
                                        "failed on sample")
    assert "ZeroDivisionError: std is zero" in torch_state.error
    assert tf_state.status == "done" and tf_state.steps_done == 8
