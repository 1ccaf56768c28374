"""Runs a comparison: one worker thread per engine, each driving its host, taking turns.

The caller (CLI or TUI) owns the threads' lifetime through `Comparison`; records flow into a
`RunState` that the caller reads at its own pace. Nothing here calls back into a UI.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import numpy as np

from scenarios import Scenario

from ..distributed.group import make_group_or_host
from ..hosting.host import Cancelled, EngineHost, HostError
from ..hosting.pool import HostPool
from ..hosting.protocol import (
    EngineReport,
    Evaluation,
    Event,
    InputWaits,
    StageChanged,
    StepRecords,
)
from ..pairing import MIN_CONFIDENT_PAIRS, paired_speedup
from ..settings import RunSettings
from .environment import environment
from .state import RunState, UntilConfident
from .telemetry import NVML, TelemetrySampler, shared_nvml
from .turns import Turnstile
from .watchdog import DEFAULT_STALL_TIMEOUT_S, stall_limit, stall_message

# Paired measurement (alternate schedule): turns are at least MIN_TURN_S of measured step time
# (shorter turns cost more in switching than they give: a 5-step turn inflated PyTorch's
# median by 40 %, a 20-step one by 5 %, measured) and at most `slice_s`; within that, a run's
# `steps` of the slower engine are spread over about TARGET_PAIRS turn pairs, so even a short
# run gives an interval. An engine past its steps keeps taking turns while the other still
# needs them, up to CAP_FACTOR times its steps (then it stops and later turns are unpaired).
MIN_TURN_S = 0.2
TARGET_PAIRS = 6
CAP_FACTOR = 100
# Steady steps each engine needs before its median sizes the turns.
MIN_SIZING_STEPS = 3


class Comparison:
    """One run of a scenario on several engines with shared settings.

    In the alternate schedule the engines are measured in paired turns (engines.run.turns):
    each engine does at least `settings.steps` steps and the faster one keeps taking turns of
    equal measured time while the slower one still needs them, so every turn has a partner.
    until_confident (percent, alternate only): end as soon as the speed-up's 95 % interval is
    within +-that much (and at least MIN_CONFIDENT_PAIRS pairs are in), at the latest after
    `settings.steps`. collect_outputs: fetch each engine's outputs on batch 0 at the end, for
    output parity (default: for the infer task). pool: a HostPool whose pre-warmed engine
    processes are used where they fit (process isolation only). stall_timeout: seconds of
    silence after which the watchdog stops an engine and marks it failed (see
    DEFAULT_STALL_TIMEOUT_S; 0 or None: no watchdog).
    """

    def __init__(self, scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 telemetry: bool = True, telemetry_hz: float = 2.0, first: str | None = None,
                 nvml: NVML | None = None, until_confident: float | None = None,
                 collect_outputs: bool | None = None, pool: HostPool | None = None,
                 stall_timeout: float | None = DEFAULT_STALL_TIMEOUT_S):
        settings.validate()
        if until_confident is not None:
            if settings.schedule != "alternate":
                raise ValueError("until_confident: needs the alternate schedule (paired turns); "
                                 f"got {settings.schedule!r}")
            if not 0 < until_confident < 100:
                raise ValueError(f"until_confident: expected a percentage in (0, 100), got "
                                 f"{until_confident}")
        self.pool = pool
        self.scenario = scenario
        self.settings = settings
        self.state = RunState(scenario, settings, engines)
        self.cancel_event = threading.Event()
        order = list(engines)
        if first in order:
            order.remove(first)
            order.insert(0, first)
        self.turnstile = Turnstile(order, settings.schedule)
        self.threads: list[threading.Thread] = []
        self.workers: dict[str, threading.Thread] = {}
        self.hosts: dict[str, EngineHost] = {}
        self.stall_timeout = stall_timeout or 0.0
        # Watchdog: when each engine last showed life inside a call to its host (None: not in
        # a call, e.g. waiting for its turn), and the engines it stopped, with why.
        self.alive_at: dict[str, float | None] = {n: None for n in engines}
        self.stalled: dict[str, str] = {}
        self.sampler: TelemetrySampler | None = None
        self.telemetry = telemetry
        self.telemetry_hz = telemetry_hz
        self.nvml = nvml
        self.paired = settings.schedule == "alternate"
        self.until_confident = until_confident
        self.collect_outputs = settings.task == "infer" if collect_outputs is None \
            else collect_outputs
        self.state.order = order
        self.turns: dict[str, int] = {n: 0 for n in engines}
        # The most steps an engine may do: its steps, or in paired turns CAP_FACTOR times that.
        self.cap = settings.steps * CAP_FACTOR if self.paired else settings.steps
        if until_confident is not None:
            self.state.until_confident = UntilConfident(
                pct=until_confident, min_pairs=MIN_CONFIDENT_PAIRS, max_steps=settings.steps)

    # -- paired turns ----------------------------------------------------------------------
    def turn_length(self) -> float:
        """Measured seconds of the next turn (alternate schedule), see MIN_TURN_S."""
        slice_s = self.settings.slice_s
        if self.until_confident is not None:
            return max(MIN_TURN_S, slice_s)
        with self.state.lock:
            medians = []
            for es in self.state.engines.values():
                if es.status in ("failed", "cancelled", "unavailable"):
                    continue
                steady = es.steady_times()
                if steady.size < MIN_SIZING_STEPS:
                    return min(MIN_TURN_S, slice_s)
                medians.append(float(np.median(steady)))
        if not medians:
            return min(MIN_TURN_S, slice_s)
        spread = self.settings.steps * max(medians) / TARGET_PAIRS
        return min(max(spread, MIN_TURN_S), max(slice_s, MIN_TURN_S))

    def _confident(self) -> bool:
        """--until-confident: is the paired interval tight enough now? Records when it first
        was."""
        rule = self.state.until_confident
        if rule is None:
            return False
        with self.state.lock:
            turns = {n: es.turn_medians() for n, es in self.state.engines.items()}
        sp = paired_speedup(turns)
        ok = sp is not None and sp.confident(rule.pct, rule.min_pairs)
        if ok:
            with self.state.lock:
                if rule.confident_after_s is None:
                    # Seconds of measuring: both engines' step times added up (the turns
                    # take them one after the other), the same clock as the app's.
                    rule.confident_after_s = float(sum(
                        sum(es.times) for es in self.state.engines.values()))
                    rule.pairs = sp.pairs
        return ok

    def partners(self, name: str) -> list[str]:
        """The other engines whose turns pair with `name`'s: still running or done (not
        failed, cancelled or unavailable)."""
        with self.state.lock:
            return [o for o, es in self.state.engines.items()
                    if o != name and es.status in ("pending", "running", "done")]

    def may_end(self, name: str) -> bool:
        """Paired turns: True when `name` has done its part. Every engine has its steps (or
        the interval is confident), and `name` has had as many turns as every other engine
        still in the run, so the last pair is complete."""
        with self.state.lock:
            done = [es.steps_done >= self.settings.steps or es.finished
                    for es in self.state.engines.values()]
        # Every engine has done its steps (with --until-confident they are a cap: the slower
        # engine does at most that many, the faster one pairs its turns), or the verdict is
        # confident already.
        target = all(done)
        balanced = all(self.turns[name] >= self.turns[o] for o in self.partners(name))
        if not balanced:
            return False
        return target or self._confident()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start one worker thread per engine (and the telemetry sampler); returns at once."""
        self.state.environment = environment()
        if self.telemetry:
            # NVML answers in the sampler's thread (nvmlInit can take seconds): never here,
            # which may be the UI's event loop.
            nvml = self.nvml if self.nvml is not None else shared_nvml()
            self.sampler = TelemetrySampler(self._pids, self.state.add_telemetry,
                                            hz=self.telemetry_hz, nvml=nvml,
                                            on_nvml=self._nvml_answered,
                                            replica_pids=self._replica_pids)
            self.sampler.start()
        for name in self.state.engines:
            t = threading.Thread(target=self.run_engine, args=(name,), name=f"engine-{name}",
                                 daemon=True)
            self.threads.append(t)
            self.workers[name] = t
            t.start()
        if self.stall_timeout > 0:
            threading.Thread(target=self._watch, name="stall-watchdog", daemon=True).start()

    # -- the stall watchdog ----------------------------------------------------------------
    def _watch(self) -> None:
        """Stop any engine silent for longer than its stage allows (see stall_limit)."""
        period = min(1.0, max(0.05, self.stall_timeout / 10))
        while not self.cancel_event.wait(period):
            if self.state.finished:
                return
            now = time.monotonic()
            for name, since in list(self.alive_at.items()):
                if since is None or name in self.stalled:
                    continue
                with self.state.lock:
                    es = self.state.engines[name]
                    stage, finished = es.stage, es.finished
                limit = stall_limit(stage, self.stall_timeout)
                if not finished and now - since > limit:
                    self._stop_stalled(name, stall_message(stage, limit, self.stall_timeout))

    def _stop_stalled(self, name: str, message: str) -> None:
        """Mark `name` failed, hand its turns to the others, and stop its host: a child process
        is killed; an engine in a thread stops after the step it is in, if that step ever
        ends (its thread is then no longer waited for)."""
        self.stalled[name] = message
        self.state.finish(name, "failed", message)
        self.turnstile.mark_ended(name)
        host = self.hosts.get(name)
        if host is not None:
            host.kill()

    def _end(self, name: str, status: str, error: str | None = None) -> None:
        """Record an engine's final status; one the watchdog stopped stays failed, with the
        watchdog's reason (its host's death is the watchdog's doing)."""
        if name in self.stalled:
            status, error = "failed", self.stalled[name]
        self.state.finish(name, status, error)

    def _nvml_answered(self, status: str, gpus: list[dict[str, Any]],
                       driver: dict[str, Any]) -> None:
        """Record the GPUs and driver, and whether there is GPU telemetry (sampler thread)."""
        env = environment(gpus, driver)
        with self.state.lock:
            self.state.environment = env
            self.state.gpu_status = status
            self.state.version += 1

    def _pids(self) -> dict[str, int | None]:
        with self.state.lock:
            return {n: es.pid for n, es in self.state.engines.items() if not es.finished}

    def _replica_pids(self) -> dict[str, list[int]]:
        """Every replica process of each engine that runs as a replica group."""
        with self.state.lock:
            running = [n for n, es in self.state.engines.items() if not es.finished]
        return {n: list(self.hosts[n].pids) for n in running
                if n in self.hosts and len(getattr(self.hosts[n], "pids", ())) > 1}

    def wait(self, timeout: float | None = None, poll: Callable[[], None] | None = None) -> bool:
        """Join the workers; `poll` is called about every 0.1 s meanwhile. True when all ended.

        "Ended" is read from the run state as well as the threads: on Python 3.11 a
        KeyboardInterrupt inside Thread.join(timeout) can leave a still-running thread marked
        as stopped, and a wait that trusted it returned before the workers recorded their
        final status. After cancel(), an engine still without a final status when the wait
        gives up is marked cancelled, so an export written then has a final status for every
        engine.
        """
        end = None if timeout is None else time.monotonic() + timeout

        threads_gone_at: list[float] = []

        def alive() -> list[threading.Thread]:
            # A thread the watchdog gave up on (an engine hung in --in-process) is not waited
            # for: its engine has its final status.
            return [t for n, t in self.workers.items() if t.is_alive() and n not in self.stalled]

        def running() -> bool:
            if alive():
                return True
            if not self.threads or self.state.finished:
                return False
            # Threads look gone but a status is missing: give the workers a moment.
            threads_gone_at.append(time.monotonic())
            return threads_gone_at[-1] - threads_gone_at[0] < 1.0

        while running():
            for t in alive():
                t.join(timeout=0.05)
            if not alive():
                time.sleep(0.01)  # a worker between its last statement and its exit
            if poll:
                poll()
            if end is not None and time.monotonic() > end:
                break
        if self.cancelled:
            with self.state.lock:
                stuck = [n for n, es in self.state.engines.items() if not es.finished]
            for name in stuck:
                self.state.finish(name, "cancelled", "cancelled by the user")
        done = not running()
        if done and self.sampler:
            self.sampler.stop()
        return done

    def cancel(self) -> None:
        """Stop every engine now: child processes are killed; threads stop between steps."""
        self.cancel_event.set()
        for host in list(self.hosts.values()):
            host.kill()
        if self.sampler:
            self.sampler.stop()

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called (the run did not end on its own)."""
        return self.cancel_event.is_set()

    def run(self, poll: Callable[[], None] | None = None) -> RunState:
        """Start and wait for the end (used by the headless CLI and tests)."""
        self.start()
        self.wait(poll=poll)
        return self.state

    # -- one engine's worker thread ------------------------------------------------------------
    def run_engine(self, name: str) -> None:
        """Drive one engine from import to its last step; every failure becomes a status."""
        state = self.state
        impl = state.engines[name].impl
        host = None
        if self.pool is not None and self.settings.isolation == "process" \
                and self.settings.workers == 1:
            host = self.pool.take(impl, self.cancel_event)
        started = host is not None
        if host is None:
            host = make_group_or_host(impl, self.settings, self.cancel_event)
        self.hosts[name] = host

        turn = 0  # the turn the records arriving now belong to

        def on_event(event: Event) -> None:
            self.alive_at[name] = time.monotonic()
            if isinstance(event, StepRecords):
                state.add_records(name, event.records, turn)
            elif isinstance(event, StageChanged):
                state.set_stage(name, event.stage)
            elif isinstance(event, Evaluation):
                state.add_evaluation(name, event)
            elif isinstance(event, EngineReport):  # a replica group's figures so far
                state.set_report(name, event)
            elif isinstance(event, InputWaits):
                state.add_input_waits(name, event.waits)

        try:
            state.set_stage(name, "starting")
            if not started:
                host.start()
            state.set_pid(name, host.pid)
            state.set_report(name, self._call(name, host.prepare, self.scenario, self.settings,
                                              on_event))
            self.turnstile.mark_ready(name)
            finished = False
            while not finished:
                if not self.turnstile.wait_turn(name, self.cancel_event):
                    raise Cancelled()
                try:
                    if self.paired and self.may_end(name):
                        finished = True
                    else:
                        resumed = self.turnstile.took_turn(name)
                        turn = self.turns[name]
                        turn_s = self.turn_length() if self.paired else math.inf
                        # Alone (the other engine failed or is unavailable) there is nothing
                        # to pair with: do exactly the run's steps.
                        limit = self.cap if self.partners(name) else self.settings.steps
                        reached = self._call(name, host.run_slice, limit, turn_s, on_event,
                                             resumed=resumed)
                        self.turns[name] += 1
                        with state.lock:
                            at_limit = state.engines[name].steps_done >= limit
                        finished = at_limit or (self.may_end(name) if self.paired else reached)
                    if finished:
                        # Still within this engine's turn, so the forward pass and the report
                        # never overlap the other engine's timed steps.
                        if self.collect_outputs:
                            try:
                                state.set_outputs(name, self._call(name, host.outputs, 0))
                            except HostError:
                                state.set_outputs(name, None)
                        state.set_report(name, self._call(name, host.report))
                finally:
                    self.turnstile.end_turn(name)
            self._end(name, "done")
        except Cancelled:
            self._end(name, "cancelled", "cancelled by the user")
        except HostError as err:
            self._end(name, err.status, str(err))
        except Exception as err:  # noqa: BLE001 - a bug here must not hang the other engine
            self._end(name, "failed", f"{type(err).__name__}: {err}")
        finally:
            self.turnstile.mark_ended(name)
            host.close()

    def _call(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call one of `name`'s host methods under the watchdog's eye."""
        self.alive_at[name] = time.monotonic()
        try:
            return method(*args, **kwargs)
        finally:
            self.alive_at[name] = None
