"""Pre-warmed engine processes (engines.pool): a pooled run does the same work as an unpooled one,
reports the warm import as its import stage, and no process outlives the pool."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from engines import Comparison, settings_for
from engines.hosting.host import ProcessHost
from engines.hosting.pool import HostPool
from engines.hosting.protocol import Event, StageChanged
from engines.hosting.warm import warm_import
from scenarios import find, load_builtins

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
REAL = {"pytorch": "pytorch", "tensorflow": "tensorflow"}

pytestmark = pytest.mark.timeout(120)


def gone(pid: int, timeout: float = 3.0) -> bool:
    """True once `pid` no longer runs (a zombie does not run)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pool():
    made = HostPool()
    yield made
    made.close()


def run(engines, pool=None, steps=40, **overrides):
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=steps, threads=1, **overrides)
    return Comparison(scenario, settings, engines, telemetry=False, pool=pool).run()


def test_a_pooled_run_uses_the_warm_processes_and_does_the_same_work(pool):
    pool.warm(FAKE.values())
    warm = pool.idle_pids()
    assert set(warm) == set(FAKE.values()) and all(warm.values())
    pooled = run(FAKE, pool)
    plain = run(FAKE)
    assert pool.idle_pids() == {}  # both warm processes were taken
    for name, impl in FAKE.items():
        es, ref = pooled.engines[name], plain.engines[name]
        assert es.status == ref.status == "done"
        assert es.pid == warm[impl]  # the run stepped in the pre-started process
        assert list(es.losses) == list(ref.losses)  # same work, step for step
        assert es.report.prewarmed is True and ref.report.prewarmed is False
        assert es.report.stages_s["import"] > 0
        assert gone(es.pid)  # a taken process runs one comparison, then is closed


def test_a_run_without_a_matching_warm_process_starts_its_own(pool):
    pool.warm(["fake:pytorch"])
    state = run(FAKE, pool)
    assert state.engines["pytorch"].report.prewarmed is True
    assert state.engines["tensorflow"].report.prewarmed is False
    assert state.engines["tensorflow"].status == "done"


def test_in_process_runs_ignore_the_pool(pool):
    pool.warm(FAKE.values())
    before = pool.idle_pids()
    state = run(FAKE, pool, isolation="thread")
    assert all(es.status == "done" for es in state.engines.values())
    assert pool.idle_pids() == before  # still there for the next process run


def test_a_dead_warm_process_is_replaced_not_used(pool):
    pool.warm(["fake:pytorch"])
    pid = pool.idle_pids()["fake:pytorch"]
    psutil.Process(pid).kill()
    assert gone(pid)
    pool.warm(["fake:pytorch"])  # warming again replaces it
    assert pool.idle_pids()["fake:pytorch"] not in (None, pid)
    pid2 = pool.idle_pids()["fake:pytorch"]
    psutil.Process(pid2).kill()
    assert gone(pid2)
    assert pool.take("fake:pytorch", threading.Event()) is None  # a dead one is never handed out


def test_close_stops_every_idle_process_and_warms_no_more():
    pool = HostPool()
    pool.warm(FAKE.values())
    pids = list(pool.idle_pids().values())
    pool.close()
    assert all(gone(p) for p in pids)
    pool.warm(FAKE.values())
    assert pool.idle_pids() == {}
    pool.close()  # twice is fine


def test_cancelling_a_pooled_run_kills_its_processes(pool):
    pool.warm(FAKE.values())
    warm = list(pool.idle_pids().values())
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=100_000, threads=1,
                            faults={"pytorch": "slow", "tensorflow": "slow"})
    comp = Comparison(scenario, settings, FAKE, telemetry=False, pool=pool)
    comp.start()
    end = time.monotonic() + 30
    while comp.state.engines["pytorch"].steps_done == 0 and time.monotonic() < end:
        time.sleep(0.05)
    comp.cancel()
    assert comp.wait(timeout=5)
    assert all(es.status == "cancelled" for es in comp.state.engines.values())
    assert all(gone(p) for p in warm)


def test_the_first_call_on_a_warm_host_collects_the_warm_answer():
    host = ProcessHost("fake:pytorch", threading.Event())
    host.start(warm=True)
    try:
        assert host.warming
        scenario = find("mlp", load_builtins())
        events: list[Event] = []
        report = host.prepare(scenario, settings_for(scenario, steps=5, threads=1),
                              events.append)
        assert not host.warming and host.warm_info.import_s >= 0
        assert StageChanged("importing") in events
        assert report.prewarmed is True
    finally:
        host.close()


def test_warm_import_reports_a_failure_instead_of_raising():
    info = warm_import("no-such-framework")
    assert info.import_s is None and "no-such-framework" in info.error
    assert warm_import("fake:pytorch").import_s >= 0


@pytest.mark.frameworks
def test_real_prewarmed_engines_keep_thread_settings_and_parity(pool):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    pool.warm(REAL.values())
    time.sleep(0.5)  # the imports go on in the children meanwhile
    state = run(REAL, pool, steps=12, warmup_steps=2)
    for name, es in state.engines.items():
        assert es.status == "done", es.error
        rep = es.report
        assert rep.prewarmed is True
        # The import happened before load(), yet counts as the import stage...
        assert rep.stages_s["import"] > 0.2
        # ...and the thread budget set in load() after the warm import still holds.
        assert rep.config["intra_op_threads"] == 1, name
        assert rep.config["inter_op_threads"] == 1, name
    a, b = (list(state.engines[n].losses) for n in REAL)
    assert max(abs(x - y) / max(abs(x), abs(y)) for x, y in zip(a, b)) < 1e-5


def test_discard_except_stops_idle_children_a_run_does_not_use():
    import threading as _threading

    from engines.hosting.pool import HostPool

    pool = HostPool()
    try:
        pool.warm(["fake:pytorch", "fake:tensorflow"])
        pids = pool.idle_pids()
        assert set(pids) == {"fake:pytorch", "fake:tensorflow"}
        pool.discard_except(["fake:pytorch"])
        assert set(pool.idle_pids()) == {"fake:pytorch"}
        gone = psutil.Process(pids["fake:tensorflow"]) if psutil.pid_exists(
            pids["fake:tensorflow"]) else None
        assert gone is None or gone.status() == psutil.STATUS_ZOMBIE or not gone.is_running()
        assert pool.take("fake:pytorch", _threading.Event()) is not None
    finally:
        pool.close()
