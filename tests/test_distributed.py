"""Data-parallel replicas (engines.distributed): the rules, the replica group behind the
EngineHost calls, faults, and with the real frameworks: two replicas reproduce one."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from engines import settings_for
from engines.distributed.group import ReplicaGroupHost, rank_faults
from engines.distributed.ports import free_ports, port_taken
from engines.distributed.rules import (
    budget_note,
    cores_problem,
    replica_slice,
    threads_per_replica,
)
from engines.results.document import build_results
from engines.run.runner import Comparison
from scenarios import load_builtins

pytestmark = pytest.mark.timeout(300)

SCENARIOS = {s.name: s for s in load_builtins()}
FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def replica_pids(comparison: Comparison) -> list[int]:
    return [p for h in comparison.hosts.values() for p in getattr(h, "pids", [h.pid]) if p]


# -- rules ------------------------------------------------------------------------------------


def test_slices_are_contiguous_equal_and_cover_the_global_batch():
    parts = [replica_slice(r, 4, 128) for r in range(4)]
    assert [(p.start, p.stop) for p in parts] == [(0, 32), (32, 64), (64, 96), (96, 128)]
    whole = np.arange(128)
    assert np.array_equal(np.concatenate([whole[p] for p in parts]), whole)


def test_threads_split_over_replicas_and_cores_are_checked():
    assert threads_per_replica(4, 2) == 2
    assert threads_per_replica(1, 2) == 1  # at least one each
    assert cores_problem(2, 1, cores=2) is None
    problem = cores_problem(4, 1, cores=2)
    assert "4 replicas x 1 thread(s) each = 4 threads" in problem and "2 cores" in problem
    assert cores_problem(2, 4, cores=2) is not None  # 2 x 2 = 4 > 2
    assert budget_note(2, 3) is not None and budget_note(2, 4) is None


def test_settings_refuse_what_replicas_cannot_do():
    sc = SCENARIOS["mlp"]
    assert settings_for(sc, workers=2).per_replica_batch == 64
    with pytest.raises(ValueError, match="batch_size: 128 does not split into 3"):
        settings_for(sc, workers=3)
    with pytest.raises(ValueError, match="workers: data-parallel replicas are processes"):
        settings_for(sc, workers=2, isolation="thread")
    with pytest.raises(ValueError, match="workers: expected a positive integer"):
        settings_for(sc, workers=0)
    with pytest.raises(ValueError, match="scale_batch"):
        settings_for(sc, scale_batch="local")
    doc = settings_for(sc, workers=2).to_dict()
    assert doc["workers"] == 2 and doc["scale_batch"] == "global"


def test_ports_are_os_picked_and_distinct_and_taken_ports_are_recognised():
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(p > 0 for p in ports)
    assert port_taken("RuntimeError: [Errno 98] Address already in use")
    assert port_taken("UNKNOWN: Could not start gRPC server")
    assert not port_taken("Connection closed by peer")


def test_faults_can_target_one_rank():
    assert rank_faults({"pytorch": "crash@3:1"}, 1) == {"pytorch": "crash@3"}
    assert rank_faults({"pytorch": "crash@3:1"}, 0) == {}
    assert rank_faults({"pytorch": "nan@2"}, 0) == {"pytorch": "nan@2"}


# -- the replica group, with the fake engine ---------------------------------------------------


def test_group_runs_as_one_engine_with_per_replica_figures():
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=30, workers=2, threads=1)
    comparison = Comparison(sc, settings, FAKES, telemetry=False)
    state = comparison.run()
    doc = build_results(state)
    for name, engine in doc["engines"].items():
        assert engine["status"] == "done", engine["error"]
        dist = engine["distributed"]
        assert dist["replicas"] == 2 and dist["per_replica_batch"] == 64
        assert [p["rank"] for p in dist["per_replica"]] == [0, 1]
        rates = [p["samples_per_s"] for p in dist["per_replica"]]
        assert dist["samples_per_s"] == pytest.approx(sum(rates))
        assert [s["step"] for s in engine["steps"]] == list(range(len(engine["steps"])))
    assert doc["settings"]["workers"] == 2
    assert all(gone(p) for p in replica_pids(comparison))


@pytest.mark.slow
def test_a_crashed_replica_ends_its_group_and_the_other_engine_carries_on():
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=30, workers=2, threads=1,
                            faults={"tensorflow": "crash@5:1"})
    comparison = Comparison(sc, settings, FAKES, telemetry=False)
    t0 = time.monotonic()
    state = comparison.run()
    assert time.monotonic() - t0 < 20
    tf, pt = state.engines["tensorflow"], state.engines["pytorch"]
    assert tf.status == "failed"
    assert "replica 1 of 2" in tf.error and "died" in tf.error
    assert "every replica of the group was stopped" in tf.error
    assert pt.status == "done"
    assert all(gone(p) for p in replica_pids(comparison))


@pytest.mark.slow
def test_a_hung_replica_is_stopped_by_the_watchdog_with_every_replica():
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=30, workers=2, threads=1, faults={"pytorch": "hang@4:0"})
    comparison = Comparison(sc, settings, FAKES, telemetry=False, stall_timeout=1.0)
    state = comparison.run()
    assert state.engines["pytorch"].status == "failed"
    assert "stall watchdog" in state.engines["pytorch"].error
    assert state.engines["tensorflow"].status == "done"
    assert all(gone(p) for p in replica_pids(comparison))


@pytest.mark.slow
def test_cancel_kills_every_replica_at_once():
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=2000, workers=2, threads=1,
                            faults={"pytorch": "slow", "tensorflow": "slow"})
    comparison = Comparison(sc, settings, FAKES, telemetry=False)
    comparison.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not comparison.state.engines["pytorch"].steps_done:
        time.sleep(0.05)
    pids = replica_pids(comparison)
    assert len(pids) == 4
    t0 = time.monotonic()
    comparison.cancel()
    assert comparison.wait(timeout=5)
    assert time.monotonic() - t0 < 2.0
    assert all(gone(p) for p in pids)


def test_a_rank_that_dies_before_answering_is_named():
    host = ReplicaGroupHost("fake:pytorch", threading.Event(), 2)
    host.start()
    try:
        host.ranks[1].proc.kill()
        host.ranks[1].proc.join(2)
        sc = SCENARIOS["mlp"]
        with pytest.raises(Exception, match=r"replica 1 of 2 \(pid \d+\) died \(SIGKILL"):
            host.prepare(sc, settings_for(sc, steps=5, workers=2), lambda event: None)
    finally:
        host.close()
    assert all(gone(p) for p in host.pids)


# -- the real frameworks -----------------------------------------------------------------------


def real_losses(name: str, workers: int, steps: int = 50) -> dict[str, np.ndarray]:
    sc = SCENARIOS[name]
    # Sequential: exactly `steps` each (paired turns would run the faster engine on).
    settings = settings_for(sc, steps=steps, workers=workers, threads=1, schedule="sequential")
    comparison = Comparison(sc, settings, {"pytorch": "pytorch", "tensorflow": "tensorflow"},
                            telemetry=False)
    doc = build_results(comparison.run())
    out = {}
    for engine, block in doc["engines"].items():
        assert block["status"] == "done", f"{engine}: {block['error']}"
        out[engine] = np.array([s["loss"] for s in block["steps"][:steps]])
        if workers > 1:
            dist = block["distributed"]
            assert dist["replicas"] == workers
            assert dist["allreduce_share"] is not None and dist["allreduce_share"] > 0
            assert 0 < dist["allreduce_s"] < 1
    assert all(gone(p) for p in replica_pids(comparison))
    return out


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


@pytest.fixture(scope="module")
def one_process_hosts():
    """One engine process per framework, serving the one-worker runs of every scenario."""
    from engines.hosting.host import ProcessHost

    cancel = threading.Event()
    made = {name: ProcessHost(name, cancel) for name in ("pytorch", "tensorflow")}
    for host in made.values():
        host.start()
    yield made
    for host in made.values():
        host.close()


def one_process_losses(hosts, name: str, steps: int = 50) -> dict[str, np.ndarray]:
    import math

    from engines.hosting.protocol import StepRecords

    sc = SCENARIOS[name]
    settings = settings_for(sc, steps=steps, threads=1)
    out = {}
    for engine, host in hosts.items():
        records = []

        def keep(event, records=records):
            if isinstance(event, StepRecords):
                records.extend(event.records)

        host.prepare(sc, settings, keep)
        assert host.run_slice(steps, math.inf, keep) is True
        out[engine] = np.array([r.loss for r in records])
    return out


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_two_replicas_reproduce_one_on_both_frameworks(one_process_hosts, name):
    one, two = one_process_losses(one_process_hosts, name), real_losses(name, 2)
    for engine in ("pytorch", "tensorflow"):
        assert len(two[engine]) == 50
        assert rel(one[engine], two[engine]) < 1e-4, engine
    assert rel(two["pytorch"], two["tensorflow"]) < 1e-4


# -- the command line ---------------------------------------------------------------------------


def parse(*argv: str):
    from tui.cli import parse_options

    return parse_options(["--no-tui", "--fake", "--scenario", "mlp", *argv])


def refused(*argv: str) -> str:
    from tui.options import BadInput

    with pytest.raises(BadInput) as err:
        parse(*argv)
    return str(err.value)


def test_workers_and_scale_batch_reach_the_settings():
    assert parse("--workers", "2").settings.workers == 2
    assert parse("--workers", "2").settings.batch_size == 128  # the global batch
    per = parse("--workers", "2", "--scale-batch", "per-replica", "--batch-size", "32").settings
    assert (per.batch_size, per.per_replica_batch, per.scale_batch) == (64, 32, "per-replica")


def test_bad_worker_lines_are_refused_before_anything_runs():
    assert "--workers: expected a positive integer" in refused("--workers", "0")
    assert "does not split into 3 equal replica slices" in refused("--workers", "3")
    assert "data-parallel replicas are processes" in refused("--workers", "2", "--in-process")
    assert "more than this machine's" in refused("--workers", "64", "--batch-size", "128")
    assert "--scaling: expected worker counts" in refused("--scaling", "1,two")
    assert "from 1 (the baseline)" in refused("--scaling", "2,4")
    assert "--workers has no effect" in refused("--scaling", "1,2", "--workers", "2")
    assert "--scaling 3:" in refused("--scaling", "1,3")
    assert "replica 2 does not exist" in refused("--workers", "2", "--fault", "pytorch=crash@3:2")
    assert "replica 1 does not exist" in refused("--fault", "pytorch=crash@3:1")
    assert "--task infer with workers=2 is not supported" in refused("--workers", "2",
                                                                      "--task", "infer")
    assert "--workers cannot be combined with --matrix" in refused("--workers", "2", "--matrix")
    # Replicas slice each batch in memory: an input pipeline per replica is not built.
    assert "--input: data-parallel replicas take their slices" in refused(
        "--workers", "2", "--input", "native")
    assert "an input pipeline (native) per replica" in refused("--scaling", "1,2", "--input",
                                                                  "native")
    assert parse("--workers", "2", "--fault", "pytorch=crash@3:1").settings.faults == {
        "pytorch": "crash@3:1"}


def test_scaling_runs_each_worker_count_and_exports_the_figures(tmp_path, capsys):
    from tui.cli import main

    path = tmp_path / "scaling.json"
    code = main(["--no-tui", "--fake", "--scenario", "mlp", "--steps", "30", "--scaling", "1,2",
                 "--no-save", "--export", str(path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Scaling (strong" in out and "2 replicas: r0" in out
    import json

    doc = json.loads(path.read_text())
    assert doc["settings"]["workers"] == 2 and doc["scaling"]["workers"] == [1, 2]
    for engine in ("pytorch", "tensorflow"):
        rows = doc["scaling"][engine]
        assert [r["workers"] for r in rows] == [1, 2]
        assert rows[0]["strong_eff"] == pytest.approx(1.0)
        # The fake's replicas each take as long as one whole engine: half the ideal.
        assert rows[1]["strong_eff"] == pytest.approx(
            rows[1]["samples_per_s"] / (2 * rows[0]["samples_per_s"]))
        assert doc["engines"][engine]["distributed"]["replicas"] == 2
    keys = [r["key"] for r in doc["fairness"]["rows"]]
    assert {"replicas", "replica_threads", "dist_backend", "collective"} <= set(keys)
    assert any(m.startswith("data parallel: 2 replica") for m in doc["fairness"]["measures"])


# -- faults and concurrency with the real frameworks ---------------------------------------------


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.frameworks
def test_a_killed_replica_ends_its_group_cleanly_and_the_other_framework_carries_on():
    import signal

    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=400, workers=2, threads=1)
    comparison = Comparison(sc, settings, {"pytorch": "pytorch", "tensorflow": "tensorflow"},
                            telemetry=False)
    comparison.start()
    try:
        assert wait_for(lambda: comparison.state.engines["tensorflow"].steps_done > 10, 120)
        pids = replica_pids(comparison)
        assert len(pids) == 4
        victim = comparison.hosts["tensorflow"].pids[1]
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        assert wait_for(lambda: comparison.state.engines["tensorflow"].finished, 10)
        assert time.monotonic() - t0 < 5
        assert comparison.wait(timeout=120)
    finally:
        comparison.cancel()
        comparison.wait(timeout=5)
    tf, pt = comparison.state.engines["tensorflow"], comparison.state.engines["pytorch"]
    assert tf.status == "failed"
    assert f"replica 1 of 2 (pid {victim}) died (SIGKILL" in tf.error
    assert pt.status == "done", pt.error
    assert all(gone(p) for p in pids)


@pytest.mark.frameworks
def test_two_runs_with_replicas_at_once_both_succeed():
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=30, workers=2, threads=1)
    runs = [Comparison(sc, settings, {"pytorch": "pytorch"}, telemetry=False)
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        assert run.wait(timeout=120)
    for run in runs:
        es = run.state.engines["pytorch"]
        assert es.status == "done", es.error
        assert es.steps_done == 30
    ports = [tuple(run.hosts["pytorch"].ports) for run in runs]
    assert ports[0] != ports[1]


@pytest.mark.frameworks
def test_a_torch_build_without_gloo_makes_the_replica_unavailable(monkeypatch):
    import torch

    from engines.base import EngineUnavailable
    from engines.distributed.replica import Replica
    from engines.distributed.torch_ddp import TorchReplicaEngine
    from engines.settings import RunSettings

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    monkeypatch.setattr(torch.distributed, "is_gloo_available", lambda: False)
    threads = torch.get_num_threads()
    engine = TorchReplicaEngine(Replica(0, 2, (1, 2)))
    try:
        with pytest.raises(EngineUnavailable, match="no torch.distributed gloo backend"):
            engine.load(RunSettings(workers=2, isolation="thread", threads=threads))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.frameworks
def test_tf_mirrored_strategy_over_logical_cpus_matches_one_device():
    """One CPU split into two logical devices: MirroredStrategy's in-process all-reduce gives
    the one-device losses (what a multi-GPU host would run, minus NCCL)."""
    import subprocess
    import sys

    code = r'''
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
import numpy as np, tensorflow as tf, keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from engines.distributed.rules import replica_slice
from scenarios import load_builtins, make_batches, initial_weights, infer_stack
from engines.builders.keras_layers import keras_layers
sc = {s.name: s for s in load_builtins()}["mlp"]
G = 128
b = make_batches(sc.data, G, 0)
def model():
    infos = infer_stack(sc.layers, sc.data.input_shape)
    return keras.Sequential([keras.Input(shape=sc.data.input_shape),
                             *keras_layers(keras, infos, initial_weights(sc, 0), {})])
def run(strategy):
    with strategy.scope():
        m = model(); opt = keras.optimizers.SGD(sc.train.learning_rate)
        opt.build(m.trainable_variables)
    n = strategy.num_replicas_in_sync
    def replica(x, y):
        ctx = tf.distribute.get_replica_context()
        i = ctx.replica_id_in_sync_group
        part = G // n
        x, y = x[i * part:(i + 1) * part], y[i * part:(i + 1) * part]
        with tf.GradientTape() as tape:
            per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=m(x, training=True))
            loss = tf.nn.compute_average_loss(per, global_batch_size=G)
        g = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(g, m.trainable_variables))
        return loss
    step = tf.function(lambda x, y: strategy.reduce("SUM", strategy.run(replica, args=(x, y)), axis=None))
    return np.array([float(step(tf.constant(b.x[i]), tf.constant(b.y[i]))) for i in range(20)])
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
two = run(mirrored)
one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
print("REL", float(np.max(np.abs(one - two) / np.abs(one))))
'''
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("REL")]
    assert line, done.stderr[-2000:]
    assert float(line[0].split()[1]) < 1e-4


@pytest.mark.frameworks
def test_a_replica_hung_in_a_collective_ends_the_group_after_the_collective_timeout(
        monkeypatch):
    import signal

    from engines.distributed import rules

    monkeypatch.setattr(rules, "COLLECTIVE_TIMEOUT_S", 3.0)
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=5000, workers=2, threads=1)
    comparison = Comparison(sc, settings, {"pytorch": "pytorch"}, telemetry=False)
    comparison.start()
    try:
        assert wait_for(lambda: comparison.state.engines["pytorch"].steps_done > 10, 120)
        pids = replica_pids(comparison)
        os.kill(pids[1], signal.SIGSTOP)  # alive, but never answers the next all-reduce
        t0 = time.monotonic()
        assert comparison.wait(timeout=30)
        assert time.monotonic() - t0 < 10
    finally:
        comparison.cancel()
        comparison.wait(timeout=5)
    es = comparison.state.engines["pytorch"]
    assert es.status == "failed"
    assert "replica 0 of 2" in es.error and "3 s timeout" in es.error, es.error
    assert all(gone(p) for p in pids)


@pytest.mark.frameworks
def test_ctrl_c_mid_run_exits_within_two_seconds_with_every_replica_gone(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    export = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "--no-tui", "--scenario", "mlp", "--steps", "100000",
         "--workers", "2", "--threads", "1", "--no-save", "--no-telemetry",
         "--export", str(export)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    try:
        def replicas() -> list[psutil.Process]:
            kids = psutil.Process(proc.pid).children(recursive=True)
            return [k for k in kids if "spawn_main" in " ".join(k.cmdline())]

        assert wait_for(lambda: len(replicas()) == 4, 60)
        group = replicas()
        time.sleep(8)  # both groups imported, built and stepping
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert took < 2.0, took
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in group)
    import json

    doc = json.loads(export.read_text())
    assert {e["status"] for e in doc["engines"].values()} <= {"cancelled", "done"}


@pytest.mark.slow
def test_saved_runs_with_replicas_are_checked_and_compared(tmp_path):
    from engines.results.diff import compare_runs
    from engines.results.validation import DocumentError, check_document

    sc = SCENARIOS["mlp"]
    docs = {}
    for workers in (1, 2):
        settings = settings_for(sc, steps=12, workers=workers, threads=1)
        docs[workers] = build_results(Comparison(sc, settings, FAKES, telemetry=False).run())
    check_document(docs[2], "run")
    rows = {r.label: (r.a, r.b) for r in compare_runs(docs[1], docs[2]).rows}
    assert rows["workers"] == ("1", "2")
    damaged = dict(docs[2], settings={**docs[2]["settings"], "workers": "two"})
    with pytest.raises(DocumentError, match="settings.workers"):
        check_document(damaged, "run")


def test_the_memory_check_counts_every_replica_process(monkeypatch):
    import tui.options as options_module

    # mlp needs about 1.47 GiB with both engines in one process each.
    monkeypatch.setattr(options_module, "available_memory", lambda: 2 * 2**30)
    assert parse().settings.workers == 1
    message = refused("--workers", "2")
    assert "2 engine(s) x 2 replica processes" in message and "2 GiB available" in message
    assert "replica processes" in refused("--scaling", "1,2")


def test_a_thread_budget_that_does_not_split_evenly_is_a_warning():
    opts = parse("--workers", "2", "--threads", "1")
    assert any("1 thread(s) per engine over 2 replicas gives each replica 1 (2 in all)" in w
               for w in opts.warnings)
    assert not any("replicas gives" in w for w in parse("--workers", "2", "--threads", "2")
                   .warnings)


@pytest.mark.frameworks
def test_a_port_taken_before_the_replicas_bind_it_is_retried_with_new_ones(monkeypatch):
    import socket

    from engines.distributed import group as group_module

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    calls = []

    def ports(count: int, host: str = "127.0.0.1") -> list[int]:
        calls.append(count)
        fresh = free_ports(count, host)
        return [taken.getsockname()[1], *fresh[1:]] if len(calls) == 1 else fresh

    monkeypatch.setattr(group_module, "free_ports", ports)
    sc = SCENARIOS["mlp"]
    settings = settings_for(sc, steps=8, workers=2, threads=1)
    try:
        state = Comparison(sc, settings, {"pytorch": "pytorch"}, telemetry=False).run()
    finally:
        taken.close()
    es = state.engines["pytorch"]
    assert es.status == "done", es.error
    assert len(calls) == 2  # the first ports, then new ones
