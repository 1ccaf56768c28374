"""Where an engine runs: a long-lived child process (default) or the calling thread.

Both hosts offer the same calls; the caller (one worker thread per engine) never sees which.
Both speak the typed messages of engines.hosting.protocol, and the same EngineServer carries
out the requests in either (in the child process, or in the caller's thread).
A child process isolates the framework: its imports, thread settings, memory, crashes and
stderr chatter stay there, and cancelling is instant (the child is killed).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

from scenarios import Scenario

from ..registry import create_engine
from ..settings import RunSettings
from .protocol import (
    EngineReport,
    Error,
    Event,
    GetOutputs,
    GetReport,
    Ok,
    Prepare,
    Request,
    RunSlice,
    StageChanged,
    Stop,
    Warm,
    WarmImport,
)
from .session import EngineSession, describe_exception
from .warm import warm_import

OnEvent = Callable[[Event], None]
POLL_S = 0.05


class HostError(RuntimeError):
    """The engine ended: status is 'failed' or 'unavailable', message says why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class Cancelled(RuntimeError):
    """The run was cancelled while this engine was working."""


class EngineHost(ABC):
    """Runs one engine implementation (``pytorch``, ``tensorflow``, ``fake:pytorch``...)."""

    def __init__(self, impl: str, cancel: threading.Event):
        self.impl = impl
        self.cancel = cancel
        self.pid: int | None = None

    @abstractmethod
    def start(self) -> None:
        """Start the host (the child process); cheap for a thread host."""

    @abstractmethod
    def call(self, request: Request, on_event: OnEvent) -> Any:
        """Send one request, relay events until it answers; raise HostError or Cancelled."""

    def prepare(self, scenario: Scenario, settings: RunSettings,
                on_event: OnEvent) -> EngineReport:
        """Import the framework and build the model; returns the engine's report."""
        return self.call(Prepare(scenario, settings), on_event)

    def run_slice(self, max_steps: int, slice_s: float, on_event: OnEvent,
                  resumed: bool = False) -> bool:
        """Run steps for about `slice_s` seconds; True when the engine has done all its steps.

        `resumed`: another engine stepped since this one's last slice (first step = 'resume').
        """
        return self.call(RunSlice(max_steps, slice_s, resumed), on_event)

    def report(self) -> EngineReport:
        """Versions, stage times, config and peak memory."""
        return self.call(GetReport(), lambda event: None)

    def outputs(self, index: int = 0) -> Any:
        """Model outputs on one batch (numpy), for output parity."""
        return self.call(GetOutputs(index), lambda event: None)

    @abstractmethod
    def kill(self) -> None:
        """Stop the engine at once (cancel, quit), whatever it is doing; never raises."""

    @abstractmethod
    def close(self) -> None:
        """Stop the host and release everything; never raises; safe to call twice."""


class EngineServer:
    """Carries out requests against one engine session: the same code in both hosts."""

    def __init__(self, impl: str):
        self.impl = impl
        self.warm: WarmImport | None = None  # a warm import not yet counted by a session
        self.session: EngineSession | None = None

    def make_engine(self) -> Any:
        """The engine a Prepare request starts a session with."""
        return create_engine(self.impl)

    def serve(self, request: Request, emit: OnEvent, should_stop: Callable[[], bool]) -> Any:
        """The answer to `request`; events go to `emit` meanwhile. Raises what the engine
        raises (see error_of)."""
        if isinstance(request, Warm):
            self.warm = warm_import(self.impl)
            return self.warm
        if isinstance(request, Prepare):
            warm, self.warm = self.warm, None  # the warm import counts for one session
            self.session = EngineSession(self.make_engine(), request.scenario,
                                         request.settings,
                                         warm_import_s=warm.import_s if warm else None)
            return self.session.prepare(emit)
        session = self.session
        if session is None:
            raise RuntimeError(f"{type(request).__name__} before Prepare")
        if isinstance(request, RunSlice):
            return session.run(request.max_steps, request.slice_s, emit, should_stop,
                               resumed=request.resumed)
        if isinstance(request, GetReport):
            return session.report()
        if isinstance(request, GetOutputs):
            return session.engine.outputs(request.index)
        raise ValueError(f"unknown request {request!r}")

    def error_of(self, err: BaseException) -> Error:
        """The reply for an exception raised while serving: failed or unavailable, and why."""
        if self.session is not None:
            message = self.session.engine.classify_error(err)
            if message:
                return Error("failed", message)
        return Error(*describe_exception(err))


class ThreadHost(EngineHost):
    """Runs the engine in the calling thread (``--in-process``): the literal thread mode."""

    def __init__(self, impl: str, cancel: threading.Event):
        super().__init__(impl, cancel)
        self.halt = threading.Event()  # kill(): stop this engine (the run may go on)

    def _stopped(self) -> bool:
        return self.cancel.is_set() or self.halt.is_set()

    def start(self) -> None:
        self.pid = os.getpid()
        self.server = EngineServer(self.impl)

    def call(self, request: Request, on_event: OnEvent) -> Any:
        if self._stopped():
            raise Cancelled()
        try:
            result = self.server.serve(request, on_event, self._stopped)
        except Exception as err:  # noqa: BLE001 - every engine error becomes a status
            error = self.server.error_of(err)
            raise HostError(error.status, error.message) from err
        if self._stopped() and isinstance(request, RunSlice):
            raise Cancelled()
        return result

    def kill(self) -> None:
        """Stop this engine: the engine runs in the caller's own thread, which cannot be
        stopped from outside, so the session stops after the step it is in (a hung step
        cannot be interrupted: use process isolation). Other engines are not affected."""
        self.halt.set()

    def close(self) -> None:
        self.server = EngineServer(self.impl)  # drops the session and the model it holds


def _child_main(conn: Any, impl: str, parent_pid: int, log_path: str,
                make_server: Callable[[str], EngineServer] = EngineServer) -> None:
    """Entry point of an engine's child process (`make_server`: a data-parallel replica's
    server, engines.distributed.group)."""
    # Framework chatter (TensorFlow's C++ logs) must not reach the parent's terminal.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us

    def watch_parent() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch_parent, daemon=True).start()
    server = make_server(impl)
    emit = conn.send
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(request, Stop):
            return
        try:
            conn.send(Ok(server.serve(request, emit, lambda: False)))
        except Exception as err:  # noqa: BLE001
            conn.send(server.error_of(err))


def describe_exit(code: int | None) -> str:
    """Human text for a child's exit code, naming the signal where there is one."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: possibly the kernel's out-of-memory killer)" if -code == 9 else ""
        return f"{name}{hint}"
    return f"exit code {code}"


class ProcessHost(EngineHost):
    """Runs the engine in a spawned child process, talking over a pipe.

    `start(warm=True)` also asks the child to import its framework at once (a pre-warmed
    host, see engines.pool); the first call() collects that answer before its own request.
    """

    warming = False  # a Warm request is on its way and its answer not read yet
    warm_info: WarmImport | None = None  # the answer

    def server_factory(self) -> Callable[[str], EngineServer]:
        """What serves the requests in the child (picklable: it crosses the spawn)."""
        return EngineServer

    def process_name(self) -> str:
        """The child process's name (shown by ps with setproctitle, and in errors)."""
        return f"fwcompare-{self.impl}"

    def start(self, warm: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        fd, self.log_path = tempfile.mkstemp(prefix=f"fwcompare-{self.impl.replace(':', '-')}-",
                                             suffix=".log")
        os.close(fd)
        self.proc = ctx.Process(target=_child_main, name=self.process_name(),
                                args=(child_conn, self.impl, os.getpid(), self.log_path,
                                      self.server_factory()),
                                daemon=True)
        self.proc.start()
        child_conn.close()
        self.pid = self.proc.pid
        if warm:
            self.conn.send(Warm())
            self.warming = True

    def alive(self) -> bool:
        """True while the child process runs."""
        proc = getattr(self, "proc", None)
        return proc is not None and proc.is_alive()

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        tail = [line for line in text if line.strip()][-lines:]
        return (" | last output: " + " / ".join(t[:160] for t in tail)) if tail else ""

    def call(self, request: Request, on_event: OnEvent) -> Any:
        if self.cancel.is_set():
            raise Cancelled()
        if self.warming:  # a pre-warmed host: the framework import may still be going on
            on_event(StageChanged("importing"))
            self.warm_info = self._answer(on_event)
            self.warming = False
        try:
            self.conn.send(request)
        except (OSError, BrokenPipeError):
            raise HostError("failed", self._died()) from None
        return self._answer(on_event)

    def _answer(self, on_event: OnEvent) -> Any:
        """Relay events until the child answers the request in flight."""
        while True:
            if self.cancel.is_set():
                self.kill()
                raise Cancelled()
            try:
                ready = self.conn.poll(POLL_S)
                if ready:
                    message = self.conn.recv()
            except (EOFError, OSError):
                raise HostError("failed", self._died()) from None
            if not ready:
                if not self.proc.is_alive():
                    raise HostError("failed", self._died())
                continue
            if isinstance(message, Ok):
                return message.value
            if isinstance(message, Error):
                raise HostError(message.status, message.message)
            on_event(message)

    def _died(self) -> str:
        if self.cancel.is_set():  # we killed it ourselves
            raise Cancelled()
        self.proc.join(timeout=1.0)
        return (f"engine process {self.pid} died unexpectedly "
                f"({describe_exit(self.proc.exitcode)}){self._log_tail()}")

    def kill(self) -> None:
        """Kill the child at once (cancel, quit), and its own children (DataLoader workers)
        first, so that none is left behind."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.is_alive():
            kill_descendants(proc.pid)
            proc.kill()
            proc.join(timeout=2.0)

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is None:
            return
        if proc.is_alive():
            try:
                self.conn.send(Stop())
            except (OSError, BrokenPipeError):
                pass
            proc.join(timeout=1.0)
        self.kill()
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


def kill_descendants(pid: int) -> None:
    """Kill every process below `pid` (an engine's DataLoader workers), if any."""
    try:
        import psutil

        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - gone already, or psutil missing: nothing to do
        return
    for child in children:
        try:
            child.kill()
        except Exception:  # noqa: BLE001 - it ended on its own meanwhile
            pass


def make_host(impl: str, isolation: str, cancel: threading.Event) -> EngineHost:
    """A host for `impl`: 'process' (child process) or 'thread' (in the caller's thread)."""
    return ProcessHost(impl, cancel) if isolation == "process" else ThreadHost(impl, cancel)
