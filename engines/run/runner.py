"""Runs a comparison: one worker thread per engine, each driving its host, taking turns.

The caller (CLI or TUI) owns the threads' lifetime through `Comparison`; records flow into a
`RunState` that the caller reads at its own pace. Nothing here calls back into a UI.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from scenarios import Scenario

from ..hosting.host import Cancelled, EngineHost, HostError, make_host
from ..hosting.pool import HostPool
from ..hosting.protocol import Evaluation, Event, StageChanged, StepRecords
from ..settings import RunSettings
from ..stats import is_stable
from .environment import environment
from .state import RunState, UntilStable
from .telemetry import NVML, TelemetrySampler, shared_nvml

# --until-stable stops an engine only once it has at least this many steady steps and, in the
# alternate schedule, has had at least this many turns (so drift was shared by both engines).
MIN_STABLE_STEPS = 30
MIN_STABLE_TURNS = 2


class Turnstile:
    """Decides which engine may step now.

    alternate: engines take turns of one time slice each, in order, once all are ready;
    sequential: the first engine runs to the end, then the next;
    parallel: everyone steps at once (contended, and labelled so).
    """

    def __init__(self, names: list[str], schedule: str):
        self.order = list(names)
        self.schedule = schedule
        self.cond = threading.Condition()
        self.ready: set[str] = set()
        self.ended: set[str] = set()
        self.holder = self.order[0] if self.order else None
        self.last_stepped: str | None = None

    def _pending(self) -> list[str]:
        return [n for n in self.order if n not in self.ended]

    def _advance_from(self, name: str) -> None:
        pending = self._pending()
        if not pending:
            self.holder = None
            return
        i = self.order.index(name)
        for k in range(1, len(self.order) + 1):
            cand = self.order[(i + k) % len(self.order)]
            if cand in pending:
                self.holder = cand
                return

    def mark_ready(self, name: str) -> None:
        with self.cond:
            self.ready.add(name)
            self.cond.notify_all()

    def mark_ended(self, name: str) -> None:
        with self.cond:
            self.ended.add(name)
            if self.holder == name or self.holder in self.ended:
                self._advance_from(name)
            self.cond.notify_all()

    def wait_turn(self, name: str, cancel: threading.Event) -> bool:
        """Block until `name` may step; False if cancelled meanwhile.

        No engine steps before every engine is ready (imported and built), in any schedule:
        another engine's import would otherwise load the CPU during timed steps.
        """
        with self.cond:
            while not cancel.is_set():
                everyone_ready = all(n in self.ready for n in self._pending())
                if everyone_ready and (self.schedule == "parallel" or self.holder == name):
                    return True
                self.cond.wait(0.05)
            return False

    def took_turn(self, name: str) -> bool:
        """Record that `name` steps now; True when another engine stepped since its last turn
        (its first step is then a 'resume': caches and cores were someone else's)."""
        with self.cond:
            if self.schedule != "alternate":
                return False
            resumed = self.last_stepped not in (None, name)
            self.last_stepped = name
            return resumed

    def end_turn(self, name: str) -> None:
        with self.cond:
            if self.schedule == "alternate" and self.holder == name:
                self._advance_from(name)
            self.cond.notify_all()


class Comparison:
    """One run of a scenario on several engines with shared settings.

    until_stable: stop stepping (before `settings.steps`) once every engine has at least
    `min_stable_steps` steady steps and IQR/median <= 10 % (in the sequential schedule each
    engine stops once it is stable itself). collect_outputs: fetch each engine's outputs on
    batch 0 at the end, for output parity (default: for the infer task). pool: a HostPool
    whose pre-warmed engine processes are used where they fit (process isolation only).
    """

    def __init__(self, scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 telemetry: bool = True, telemetry_hz: float = 2.0, first: str | None = None,
                 nvml: NVML | None = None, until_stable: bool = False,
                 min_stable_steps: int = MIN_STABLE_STEPS,
                 collect_outputs: bool | None = None, pool: HostPool | None = None):
        settings.validate()
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
        self.hosts: dict[str, EngineHost] = {}
        self.sampler: TelemetrySampler | None = None
        self.telemetry = telemetry
        self.telemetry_hz = telemetry_hz
        self.nvml = nvml
        self.until_stable = until_stable
        self.min_stable_steps = min_stable_steps
        self.collect_outputs = settings.task == "infer" if collect_outputs is None \
            else collect_outputs
        self.state.order = order
        self.turns: dict[str, int] = {n: 0 for n in engines}
        if until_stable:
            self.state.until_stable = UntilStable(
                min_steady_steps=min_stable_steps, max_steps=settings.steps,
                min_turns=MIN_STABLE_TURNS if settings.schedule == "alternate" else 1,
                stopped_at_step={n: None for n in engines})

    def _stable(self, name: str) -> bool:
        if self.settings.schedule == "alternate" and \
                self.turns.get(name, 0) < MIN_STABLE_TURNS:
            return False
        with self.state.lock:
            es = self.state.engines[name]
            return is_stable(es.steady_times(), self.min_stable_steps)

    def should_stop(self, name: str) -> bool:
        """--until-stable: True when `name` (and, unless sequential, every other engine still
        running) is stable, so `name` may end before its last step."""
        if not self.until_stable or not self._stable(name):
            return False
        if self.settings.schedule == "sequential":
            return True
        for other, es in self.state.engines.items():
            if other == name:
                continue
            with self.state.lock:
                ended = es.finished
            if not ended and not self._stable(other):
                return False
        return True

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
                                            on_nvml=self._nvml_answered)
            self.sampler.start()
        for name in self.state.engines:
            t = threading.Thread(target=self.run_engine, args=(name,), name=f"engine-{name}",
                                 daemon=True)
            self.threads.append(t)
            t.start()

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

        def running() -> bool:
            if any(t.is_alive() for t in self.threads):
                return True
            if not self.threads or self.state.finished:
                return False
            # Threads look gone but a status is missing: give the workers a moment.
            threads_gone_at.append(time.monotonic())
            return threads_gone_at[-1] - threads_gone_at[0] < 1.0

        while running():
            for t in self.threads:
                t.join(timeout=0.05)
            if not any(t.is_alive() for t in self.threads):
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

    def _stopped_stable(self, name: str) -> None:
        with self.state.lock:
            rule = self.state.until_stable  # set: only --until-stable stops an engine early
            if rule is not None:
                rule.stopped_at_step[name] = self.state.engines[name].steps_done

    # -- one engine's worker thread ------------------------------------------------------------
    def run_engine(self, name: str) -> None:
        """Drive one engine from import to its last step; every failure becomes a status."""
        state = self.state
        impl = state.engines[name].impl
        host = None
        if self.pool is not None and self.settings.isolation == "process":
            host = self.pool.take(impl, self.cancel_event)
        started = host is not None
        if host is None:
            host = make_host(impl, self.settings.isolation, self.cancel_event)
        self.hosts[name] = host

        def on_event(event: Event) -> None:
            if isinstance(event, StepRecords):
                state.add_records(name, event.records)
            elif isinstance(event, StageChanged):
                state.set_stage(name, event.stage)
            elif isinstance(event, Evaluation):
                state.add_evaluation(name, event)

        slice_s = self.settings.slice_s if self.settings.schedule == "alternate" else math.inf
        if self.until_stable:  # check stability about once a slice in every schedule
            slice_s = self.settings.slice_s
        try:
            state.set_stage(name, "starting")
            if not started:
                host.start()
            state.set_pid(name, host.pid)
            state.set_report(name, host.prepare(self.scenario, self.settings, on_event))
            self.turnstile.mark_ready(name)
            finished = False
            while not finished:
                if not self.turnstile.wait_turn(name, self.cancel_event):
                    raise Cancelled()
                try:
                    if self.should_stop(name):
                        self._stopped_stable(name)
                        finished = True
                    else:
                        resumed = self.turnstile.took_turn(name)
                        finished = host.run_slice(self.settings.steps, slice_s, on_event,
                                                  resumed=resumed)
                        self.turns[name] += 1
                        if not finished and self.should_stop(name):
                            self._stopped_stable(name)
                            finished = True
                    if finished:
                        # Still within this engine's turn, so the forward pass and the report
                        # never overlap the other engine's timed steps.
                        if self.collect_outputs:
                            try:
                                state.set_outputs(name, host.outputs(0))
                            except HostError:
                                state.set_outputs(name, None)
                        state.set_report(name, host.report())
                finally:
                    self.turnstile.end_turn(name)
            state.finish(name, "done")
        except Cancelled:
            state.finish(name, "cancelled", "cancelled by the user")
        except HostError as err:
            state.finish(name, err.status, str(err))
        except Exception as err:  # noqa: BLE001 - a bug here must not hang the other engine
            state.finish(name, "failed", f"{type(err).__name__}: {err}")
        finally:
            self.turnstile.mark_ended(name)
            host.close()
