"""The wire protocol (engines.hosting.protocol): every message survives the pipe as its own type,
both hosts speak it the same way, and a run's state and report are typed end to end."""

from __future__ import annotations

import math
import pickle
import threading
from multiprocessing.reduction import ForkingPickler

import pytest

from engines import Comparison, settings_for
from engines.hosting.host import EngineServer, HostError, ProcessHost, ThreadHost
from engines.hosting.protocol import (
    EngineReport,
    Error,
    Event,
    GetOutputs,
    GetReport,
    Ok,
    Prepare,
    RunSlice,
    StageChanged,
    StepRecord,
    StepRecords,
    Stop,
    Warm,
    WarmImport,
)
from engines.run.driver import RunDriver
from scenarios import find, load_builtins

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def mlp():
    return find("mlp", load_builtins())


def over_the_pipe(message):
    """What the other end of a multiprocessing pipe receives for `message`."""
    return pickle.loads(ForkingPickler.dumps(message))


def test_every_message_arrives_as_the_same_typed_value(mlp):
    settings = settings_for(mlp, steps=10, threads=1)
    records = StepRecords((StepRecord(0, "first", 2.5, 0.04), StepRecord(1, "warmup", 2.25, 2e-3),
                           StepRecord(2, "steady", math.nan, 2.1e-3)))
    report = EngineReport({"torch": "2.13"}, {"import": 3.5}, True, {"mode": "eager"},
                          {"host_peak_rss": 1 << 20})
    messages = [Warm(), Prepare(mlp, settings), RunSlice(10, 1.0, True), GetReport(),
                GetOutputs(3), Stop(), StageChanged("compiling"), Ok(report), Ok(None),
                Ok(WarmImport(1.5)), Error("unavailable", "torch is not installed")]
    for message in messages:
        back = over_the_pipe(message)
        assert type(back) is type(message) and back == message
    back = over_the_pipe(records)
    assert type(back) is StepRecords
    assert all(type(r) is StepRecord for r in back.records)
    assert [r.step for r in back.records] == [0, 1, 2] and back.records[1].loss == 2.25
    assert back.records[:2] == records.records[:2] and math.isnan(back.records[2].loss)


def test_a_batch_of_step_records_costs_no_more_bytes_than_plain_tuples():
    rows = [(i, "steady", 0.5 + i * 1e-3, 1e-3 * (1 + i % 7)) for i in range(1000)]
    typed = StepRecords(tuple(StepRecord(*r) for r in rows))
    plain = len(ForkingPickler.dumps(("records", rows)))
    assert len(ForkingPickler.dumps(typed)) <= plain * 1.05


def test_requests_have_no_positional_guessing():
    # A run request states whether it resumes; the default is explicit, not a missing index.
    assert RunSlice(5, 1.0).resumed is False
    assert RunSlice(5, 1.0, resumed=True).resumed is True
    # Requests of different kinds never compare equal (tuples of equal length would).
    assert GetReport() != Stop() and Warm() != Stop()


def test_the_empty_report_exports_the_same_block_as_before_any_report():
    assert EngineReport().to_dict() == {
        "phases_s": {"import": None, "build": None, "first_step": None, "warmup": None},
        "versions": {}, "config": {}, "memory": {}}
    filled = EngineReport({"x": "1"}, {"import": 1.0, "first_step": 0.2}, True, {"xla": False},
                          {"host_peak_rss": 5}).to_dict()
    assert list(filled) == ["phases_s", "versions", "config", "memory"]  # the export's order
    assert filled["phases_s"] == {"import": 1.0, "build": None, "first_step": 0.2,
                                  "warmup": None}
    assert "prewarmed" not in filled  # shown on screen, never exported


@pytest.mark.parametrize("host_class", [ProcessHost, ThreadHost])
def test_both_hosts_send_the_same_typed_events(mlp, host_class):
    host = host_class("fake:pytorch", threading.Event())
    host.start()
    events: list[Event] = []
    settings = settings_for(mlp, steps=12, threads=1, warmup_steps=3)
    try:
        report = host.prepare(mlp, settings, events.append)
        assert host.run_slice(settings.steps, math.inf, events.append) is True
        final = host.report()
    finally:
        host.close()
    assert all(isinstance(e, (StageChanged, StepRecords)) for e in events)
    stages = [e.stage for e in events if isinstance(e, StageChanged)]
    assert stages == ["importing", "building", "compiling", "warm-up", "running"]
    records = [r for e in events if isinstance(e, StepRecords) for r in e.records]
    assert all(type(r) is StepRecord for r in records)
    assert [r.step for r in records] == list(range(12))
    assert [r.phase for r in records[:5]] == ["first", "warmup", "warmup", "warmup", "steady"]
    assert isinstance(report, EngineReport) and report.prewarmed is False
    assert set(report.stages_s) == {"import", "build"}
    assert set(final.stages_s) == {"import", "build", "first_step", "warmup"}
    assert final.stages_s["first_step"] == records[0].time_s  # the fake's simulated time


def test_an_engine_error_comes_back_as_a_typed_error_reply(mlp):
    settings = settings_for(mlp, steps=10, threads=1, faults={"pytorch": "unavailable"})
    server = EngineServer("fake:pytorch")
    with pytest.raises(Exception) as caught:
        server.serve(Prepare(mlp, settings), lambda event: None, lambda: False)
    assert server.error_of(caught.value) == Error("unavailable",
                                                  "pytorch is not installed (simulated)")
    host = ProcessHost("fake:pytorch", threading.Event())
    host.start()
    try:
        with pytest.raises(HostError) as err:
            host.prepare(mlp, settings, lambda event: None)
        assert err.value.status == "unavailable" and "not installed" in str(err.value)
    finally:
        host.close()


def test_a_request_before_prepare_is_refused_not_guessed():
    server = EngineServer("fake:pytorch")
    with pytest.raises(RuntimeError, match="RunSlice before Prepare"):
        server.serve(RunSlice(5, 1.0), lambda event: None, lambda: False)


def test_a_comparison_is_what_the_dashboard_drives_and_its_state_is_typed(mlp):
    settings = settings_for(mlp, steps=20, threads=1, isolation="thread")
    comp = Comparison(mlp, settings, {"pytorch": "fake:pytorch"}, telemetry=False)
    assert isinstance(comp, RunDriver)
    assert not comp.cancelled
    state = comp.run()
    es = state.engines["pytorch"]
    assert es.stage == "done" and isinstance(es.report, EngineReport)
    assert es.report.versions["fake-pytorch"] == "1.0"
    assert state.order == ["pytorch"] and state.until_confident is None and state.gpu_status is None
    comp.cancel()  # a thread host has nothing to kill: cancelling after the end is harmless
    assert comp.cancelled
