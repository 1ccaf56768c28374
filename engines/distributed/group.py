"""ReplicaGroupHost: one engine as N data-parallel replica processes, behind the EngineHost calls.

The runner drives it like a single engine process: its turn is the whole group's, the stall
watchdog watches the group, the results see one engine. Each request goes to every replica
(a ProcessHost child whose server makes a replica engine, see ReplicaServer) and the group
answers once every replica has. Step records are merged step by step: the step's loss is the
mean of the replicas' slice losses (equal slices: the global batch's mean loss) and its time
the slowest replica's (the step is done when every replica is). Each replica's own step times
are kept for the per-replica figures of the `distributed` block.

A turn of measured time cannot be left to each replica (they would stop after different
steps and wait forever in the next all-reduce): the group turns the turn's seconds into a step
count from the steps so far, and every replica runs exactly those steps.

Faults: a replica that dies, fails or times out in a collective ends the group: the others
are killed at once and the error names the replica (a death is preferred over the peers'
"connection closed" errors it causes). Ports are picked by the OS on loopback, and a start
that fails on a taken port is retried with new ones.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import wait as wait_connections
from typing import Any, Callable

import numpy as np

from scenarios import Scenario

from ..hosting.host import (
    POLL_S,
    Cancelled,
    EngineHost,
    EngineServer,
    HostError,
    OnEvent,
    ProcessHost,
    describe_exit,
    make_host,
)
from ..hosting.protocol import (
    EngineReport,
    Error,
    Evaluation,
    GetOutputs,
    GetReport,
    Ok,
    Prepare,
    Request,
    RunSlice,
    StageChanged,
    StepRecord,
    StepRecords,
    Stop,
)
from ..registry import create_replica_engine
from ..settings import RunSettings
from . import rules
from .ports import free_ports, port_taken
from .replica import Replica
from .rules import threads_per_replica

PORT_ATTEMPTS = 3
# After one replica fails, how long to look for a replica that died (its death is the cause;
# the others' errors are its consequence).
DEATH_GRACE_S = 1.0
ALLREDUCE_REPEATS = 10
LIVE_REPORT_S = 1.0  # how often the live view gets the per-replica figures
LIVE_WINDOW = 256  # the live figures are of each replica's latest steps (cheap in long runs)


# What the fake engine's replicas say about themselves: they share nothing.
SIMULATED_FACTS = {"backend": "simulated", "strategy": "simulated replicas (no collective)",
                   "collective": "none (simulated)", "batch_norm": None}


@dataclass(frozen=True, slots=True)
class MeasureAllReduce:
    """Time an all-reduce of the model's gradient sizes alone (every replica). -> seconds"""

    repeats: int = ALLREDUCE_REPEATS


class ReplicaServer(EngineServer):
    """Serves one replica: its engine is the framework's data-parallel replica."""

    def __init__(self, impl: str, replica: Replica):
        super().__init__(impl)
        self.replica = replica

    def make_engine(self) -> Any:
        return create_replica_engine(self.impl, self.replica)

    def serve(self, request: Any, emit: OnEvent, should_stop: Callable[[], bool]) -> Any:
        if isinstance(request, MeasureAllReduce):
            session = self.session
            timer = getattr(session.engine, "time_allreduce", None) if session else None
            return timer(request.repeats) if timer is not None else None
        answer = super().serve(request, emit, should_stop)
        if isinstance(answer, EngineReport) and self.session is not None:
            engine = self.session.engine
            facts = SIMULATED_FACTS if engine.simulated else \
                getattr(engine, "distributed_facts", dict)()
            answer = dataclasses.replace(answer, config={**answer.config,
                                                         "replica_facts": facts})
        return answer


class RankHost(ProcessHost):
    """The child process of one replica."""

    def __init__(self, impl: str, cancel: threading.Event, replica: Replica):
        super().__init__(impl, cancel)
        self.replica = replica

    def server_factory(self) -> Callable[[str], EngineServer]:
        return partial(ReplicaServer, replica=self.replica)

    def process_name(self) -> str:
        return f"fwcompare-{self.impl}-rank{self.replica.rank}"


def rank_faults(faults: dict[str, str], rank: int) -> dict[str, str]:
    """The fake engine's faults for one rank: 'crash@3:1' is rank 1's alone, 'crash@3' every
    rank's."""
    out = {}
    for engine, fault in faults.items():
        head, _, target = fault.rpartition(":")
        if head and target.isdigit():
            if int(target) == rank:
                out[engine] = head
        else:
            out[engine] = fault
    return out


class ReplicaGroupHost(EngineHost):
    """`workers` replica processes of one engine, driven as one (see the module docstring)."""

    def __init__(self, impl: str, cancel: threading.Event, workers: int,
                 host_factory: Callable[..., RankHost] = RankHost):
        super().__init__(impl, cancel)
        self.world = workers
        self.factory = host_factory
        self.ranks: list[RankHost] = []
        self.pids: list[int | None] = []
        self.rank_records: list[list[StepRecord]] = [[] for _ in range(workers)]
        self.merged: list[StepRecord] = []
        self.settings: RunSettings | None = None
        self.allreduce_s: float | None = None
        self.allreduce_measured = False
        self.ports: list[int] = []
        self.reports: list[EngineReport] = []  # each replica's latest report
        self.live_at = 0.0

    # -- processes -------------------------------------------------------------------------
    def start(self) -> None:
        self.ports = free_ports(self.world)
        timeout = rules.COLLECTIVE_TIMEOUT_S  # read now: tests shorten it
        self.ranks = [self.factory(self.impl, self.cancel,
                                   Replica(r, self.world, tuple(self.ports),
                                           collective_timeout_s=timeout))
                      for r in range(self.world)]
        for host in self.ranks:
            host.start()
        self.pids = [h.pid for h in self.ranks]
        self.pid = self.pids[0]

    def kill(self) -> None:
        """Kill every replica at once (then wait for them)."""
        procs = [getattr(h, "proc", None) for h in self.ranks]
        started = [p for p in procs if p is not None and p.pid is not None]
        for proc in started:
            if proc.is_alive():
                proc.kill()
        for proc in started:
            proc.join(timeout=2.0)

    def close(self) -> None:
        for host in self.ranks:
            try:
                if host.alive():
                    host.conn.send(Stop())
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + 1.0
        for host in self.ranks:
            if host.alive():
                host.proc.join(timeout=max(0.0, deadline - time.monotonic()))
        self.kill()  # what did not end by itself (a framework's threads can hold it)
        for host in self.ranks:
            host.close()  # removes the log

    # -- requests --------------------------------------------------------------------------
    def call(self, request: Request, on_event: OnEvent, ranks: list[int] | None = None) -> Any:
        """Send `request` to `ranks` (every replica by default); rank 0's answer (all answers
        for MeasureAllReduce)."""
        if self.cancel.is_set():
            raise Cancelled()
        targets = list(range(self.world)) if ranks is None else ranks
        for r in targets:
            try:
                self.ranks[r].conn.send(request)
            except (OSError, BrokenPipeError):
                self._fail(r, "its pipe closed")
        answers = self._gather(targets, on_event)
        if isinstance(request, MeasureAllReduce):
            return answers
        return answers[targets[0]]

    def _gather(self, targets: list[int], on_event: OnEvent) -> dict[int, Any]:
        """Relay and merge events until every target replica answered."""
        pending = set(targets)
        answers: dict[int, Any] = {}
        conns = {self.ranks[r].conn: r for r in targets}
        while pending:
            if self.cancel.is_set():
                self.kill()
                raise Cancelled()
            ready = wait_connections([c for c, r in conns.items() if r in pending], POLL_S)
            for conn in ready:
                r = conns[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._fail(r, None)
                if isinstance(message, Ok):
                    answers[r] = message.value
                    pending.discard(r)
                elif isinstance(message, Error):
                    self._fail(r, message.message, message.status)
                else:
                    self._relay(r, message, on_event)
            if not ready:
                for r in list(pending):
                    if not self.ranks[r].alive():
                        self._fail(r, None)
        return answers

    def _relay(self, rank: int, event: Any, on_event: OnEvent) -> None:
        if isinstance(event, StepRecords):
            self.rank_records[rank].extend(event.records)
            merged = self._merge()
            if merged:
                on_event(StepRecords(tuple(merged)))
                now = time.monotonic()
                if self.reports and now - self.live_at >= LIVE_REPORT_S:
                    # The per-replica figures so far, for the live view (the runner takes an
                    # EngineReport event as the engine's report).
                    self.live_at = now
                    on_event(self._merged_report(self.reports, window=LIVE_WINDOW))
        elif isinstance(event, (StageChanged, Evaluation)) and rank == 0:
            on_event(event)

    def _merge(self) -> list[StepRecord]:
        """The steps every replica has reported and the group not yet: mean loss, slowest
        time, rank 0's phase."""
        ready = min(len(recs) for recs in self.rank_records)
        out = []
        for i in range(len(self.merged), ready):
            rows = [recs[i] for recs in self.rank_records]
            head = rows[0]
            record = StepRecord(head.step, head.phase,
                                float(np.mean([row.loss for row in rows])),
                                max(row.time_s for row in rows))
            out.append(record)
        self.merged.extend(out)
        return out

    def _fail(self, rank: int, message: str | None, status: str = "failed") -> None:
        """End the group because of replica `rank` (message None: it died); raises."""
        if self.cancel.is_set():
            self.kill()
            raise Cancelled()
        dead = self._dead_rank(rank if message is None else None)
        self.kill()
        if dead is not None:
            host = self.ranks[dead]
            host.proc.join(timeout=1.0)
            why = (f"replica {dead} of {self.world} (pid {host.pid}) died "
                   f"({describe_exit(host.proc.exitcode)}){host._log_tail()}")
            if message is not None and dead != rank:
                why += f"; replica {rank} then reported: {message[:300]}"
            status = "failed"
        else:
            why = f"replica {rank} of {self.world} (pid {self.ranks[rank].pid}): {message}"
            if any(k in (message or "").lower() for k in ("timed out", "timeout",
                                                           "deadline exceeded")):
                why += (f" (a collective waited past its {rules.COLLECTIVE_TIMEOUT_S:g} s "
                        "timeout: another replica hung or fell behind)")
        raise HostError(status, f"{why}; every replica of the group was stopped")

    def _dead_rank(self, known: int | None) -> int | None:
        """A replica that has died (`known` if given), looked for over DEATH_GRACE_S."""
        if known is not None:
            return known
        deadline = time.monotonic() + DEATH_GRACE_S
        while True:
            for r, host in enumerate(self.ranks):
                if not host.alive():
                    return r
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    # -- the calls the runner makes ----------------------------------------------------------
    def prepare(self, scenario: Scenario, settings: RunSettings,
                on_event: OnEvent) -> EngineReport:
        self.settings = settings
        for attempt in range(PORT_ATTEMPTS):
            try:
                self.reports = self._prepare_ranks(scenario, settings, on_event)
                return self._merged_report(self.reports)
            except HostError as err:
                if attempt + 1 == PORT_ATTEMPTS or not port_taken(str(err)):
                    raise
            self.close()  # a port was taken meanwhile: new processes on new ports
            self.rank_records = [[] for _ in range(self.world)]
            self.start()
        raise AssertionError("unreachable")

    def _prepare_ranks(self, scenario: Scenario, settings: RunSettings,
                       on_event: OnEvent) -> list[EngineReport]:
        threads = threads_per_replica(settings.threads, self.world)
        for r, host in enumerate(self.ranks):
            own = settings.with_(threads=threads, peak_cache=None, measure_peak=False,
                                 faults=rank_faults(settings.faults, r))
            try:
                host.conn.send(Prepare(scenario, own))
            except (OSError, BrokenPipeError):
                self._fail(r, None)
        answers = self._gather(list(range(self.world)), on_event)
        return [answers[r] for r in range(self.world)]

    def _step_estimate(self) -> float | None:
        """Median time of the group's recent steps after the first (None before any)."""
        times = [rec.time_s for rec in self.merged[1:][-20:]]
        return float(np.median(times)) if times else None

    def run_slice(self, max_steps: int, slice_s: float, on_event: OnEvent,
                  resumed: bool = False) -> bool:
        """Every replica runs the same steps: about `slice_s` seconds of them, judged from
        the group's steps so far (one step when there are none yet)."""
        done = len(self.merged)
        if math.isinf(slice_s):
            target = max_steps
        else:
            estimate = self._step_estimate()
            count = 1 if estimate is None else max(1, int(slice_s / max(estimate, 1e-9)))
            target = min(max_steps, done + count)
        return self.call(RunSlice(target, math.inf, resumed), on_event)

    def outputs(self, index: int = 0) -> Any:
        """Rank 0's model outputs (the weights are the same on every replica)."""
        return self.call(GetOutputs(index), lambda event: None, ranks=[0])

    def report(self) -> EngineReport:
        """Rank 0's report with the group's `distributed` block; the first report after steps
        also times the gradient all-reduce alone on every replica."""
        train = self.settings is not None and self.settings.task == "train"
        if train and self.merged and not self.allreduce_measured:
            self.allreduce_measured = True
            answers = self.call(MeasureAllReduce(), lambda event: None)
            found = [v for v in answers.values() if v is not None]
            # The replica that reached the all-reduce last timed the collective alone; the
            # others also timed their wait for it.
            self.allreduce_s = min(found) if found else None
        self.reports = self._gather_reports()
        return self._merged_report(self.reports)

    def _gather_reports(self) -> list[EngineReport]:
        for r in range(self.world):
            try:
                self.ranks[r].conn.send(GetReport())
            except (OSError, BrokenPipeError):
                self._fail(r, None)
        answers = self._gather(list(range(self.world)), lambda event: None)
        return [answers[r] for r in range(self.world)]

    # -- the distributed block ---------------------------------------------------------------
    def _merged_report(self, reports: list[EngineReport],
                       window: int | None = None) -> EngineReport:
        head = reports[0]
        config = dict(head.config)
        facts = config.pop("replica_facts", None) or {}
        config["distributed"] = self.distributed_block(reports, facts, window)
        # The matmul probe is one process's: N replicas probing at once would share the cores.
        config["peak"] = {"flops_per_s": None, "source": None,
                          "reason": "not measured with data-parallel replicas"}
        memory = dict(head.memory)
        rss = [r.memory.get("host_peak_rss") for r in reports]
        if all(isinstance(v, int) for v in rss):
            memory["host_peak_rss_all_replicas"] = int(sum(rss))
        return dataclasses.replace(head, config=config, memory=memory)

    def distributed_block(self, reports: list[EngineReport], facts: dict[str, Any],
                          window: int | None = None) -> dict[str, Any]:
        """The engine's `distributed` block in the results: every replica's figures over its
        steady steps (over its latest `window` steps only, for the live view)."""
        settings = self.settings
        part = settings.per_replica_batch if settings is not None else None
        per_replica = []
        for rank, (records, report) in enumerate(zip(self.rank_records, reports)):
            recent = records[-window:] if window else records
            steady = np.array([r.time_s for r in recent if r.phase == "steady"])
            median = float(np.median(steady)) if steady.size else None
            per_replica.append({
                "rank": rank,
                "pid": self.pids[rank] if rank < len(self.pids) else None,
                "median_step_s": median,
                "p95_step_s": float(np.percentile(steady, 95)) if steady.size else None,
                "samples_per_s": part / median if part and median else None,
                "steady_steps": int(steady.size),
                "host_peak_rss": report.memory.get("host_peak_rss"),
            })
        rates = [p["samples_per_s"] for p in per_replica]
        recent = self.merged[-window:] if window else self.merged
        group = np.array([r.time_s for r in recent if r.phase == "steady"])
        share = None
        if self.allreduce_s is not None and group.size:
            # Not capped at 1: timed alone, one collective call also pays its dispatch (a
            # tf.function call for TensorFlow), which inside a compiled step it does not.
            share = self.allreduce_s / float(np.median(group))
        return {
            "backend": facts.get("backend"),
            "strategy": facts.get("strategy"),
            "collective": facts.get("collective"),
            "batch_norm": facts.get("batch_norm"),
            "replicas": self.world,
            "threads_per_replica": threads_per_replica(settings.threads, self.world)
            if settings is not None else None,
            "global_batch": settings.batch_size if settings is not None else None,
            "per_replica_batch": part,
            "rendezvous": f"loopback {self.ranks[0].replica.addr}, OS-picked ports"
            if self.ranks else None,
            "per_replica": per_replica,
            # Aggregated over every replica's own measurement (not rank 0 times N).
            "samples_per_s": float(sum(rates)) if rates and all(rates) else None,
            "allreduce_s": self.allreduce_s,
            "allreduce_share": share,
        }


def make_group_or_host(impl: str, settings: RunSettings, cancel: threading.Event) -> EngineHost:
    """The host for one engine of a run: a replica group when settings.workers > 1, else
    engines.hosting.host.make_host's."""
    if settings.workers > 1:
        return ReplicaGroupHost(impl, cancel, settings.workers)
    return make_host(impl, settings.isolation, cancel)
