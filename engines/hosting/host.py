"""Where an engine runs: a long-lived child process (default) or the calling thread.

Both hosts offer the same calls; the caller (one worker thread per engine) never sees which.
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
from .session import EngineSession, describe_exception
from .warm import warm_import

OnEvent = Callable[[tuple], None]
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
    def call(self, request: tuple, on_event: OnEvent) -> Any:
        """Send one request, relay events until it answers; raise HostError or Cancelled."""

    def prepare(self, scenario: Scenario, settings: RunSettings, on_event: OnEvent) -> dict:
        """Import the framework and build the model; returns the engine's report."""
        return self.call(("prepare", scenario, settings), on_event)

    def run_slice(self, max_steps: int, slice_s: float, on_event: OnEvent,
                  resumed: bool = False) -> bool:
        """Run steps for about `slice_s` seconds; True when the engine has done all its steps.

        `resumed`: another engine stepped since this one's last slice (first step = 'resume').
        """
        return self.call(("run", max_steps, slice_s, resumed), on_event)

    def report(self) -> dict:
        """Versions, phase times, config and peak memory."""
        return self.call(("report",), lambda event: None)

    def outputs(self, index: int = 0) -> Any:
        """Model outputs on one batch (numpy), for output parity."""
        return self.call(("outputs", index), lambda event: None)

    @abstractmethod
    def close(self) -> None:
        """Stop the host and release everything; never raises; safe to call twice."""


def _serve(session_box: dict, impl: str, request: tuple, emit: OnEvent,
           should_stop: Callable[[], bool]) -> Any:
    """Carry out one request against the session (shared by both hosts)."""
    kind = request[0]
    if kind == "warm":
        session_box["warm"] = warm_import(impl)
        return session_box["warm"]
    if kind == "prepare":
        _, scenario, settings = request
        warm = session_box.pop("warm", None) or {}  # the warm import counts for one session
        session_box["session"] = EngineSession(create_engine(impl), scenario, settings,
                                               warm_import_s=warm.get("import_s"))
        return session_box["session"].prepare(emit)
    session: EngineSession = session_box["session"]
    if kind == "run":
        resumed = request[3] if len(request) > 3 else False
        return session.run(request[1], request[2], emit, should_stop, resumed=resumed)
    if kind == "report":
        return session.report()
    if kind == "outputs":
        return session.engine.outputs(request[1])
    raise ValueError(f"unknown request {kind!r}")


def _error_of(session_box: dict, err: BaseException) -> tuple[str, str]:
    session = session_box.get("session")
    if session is not None:
        message = session.engine.classify_error(err)
        if message:
            return "failed", message
    return describe_exception(err)


class ThreadHost(EngineHost):
    """Runs the engine in the calling thread (``--in-process``): the literal thread mode."""

    def start(self) -> None:
        self.pid = os.getpid()
        self.box: dict = {}

    def call(self, request: tuple, on_event: OnEvent) -> Any:
        if self.cancel.is_set():
            raise Cancelled()
        try:
            result = _serve(self.box, self.impl, request, on_event, self.cancel.is_set)
        except Exception as err:  # noqa: BLE001 - every engine error becomes a status
            raise HostError(*_error_of(self.box, err)) from err
        if self.cancel.is_set() and request[0] == "run":
            raise Cancelled()
        return result

    def close(self) -> None:
        self.box = {}


def _child_main(conn: Any, impl: str, parent_pid: int, log_path: str) -> None:
    """Entry point of an engine's child process."""
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
    box: dict = {}
    emit = conn.send
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request[0] == "stop":
            return
        try:
            conn.send(("ok", _serve(box, impl, request, emit, lambda: False)))
        except Exception as err:  # noqa: BLE001
            conn.send(("error", *_error_of(box, err)))


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

    warming = False  # a ("warm",) request is on its way and its answer not read yet
    warm_info: dict | None = None  # the answer: {"import_s": ...}

    def start(self, warm: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        fd, self.log_path = tempfile.mkstemp(prefix=f"fwcompare-{self.impl.replace(':', '-')}-",
                                             suffix=".log")
        os.close(fd)
        self.proc = ctx.Process(target=_child_main, name=f"fwcompare-{self.impl}",
                                args=(child_conn, self.impl, os.getpid(), self.log_path),
                                daemon=True)
        self.proc.start()
        child_conn.close()
        self.pid = self.proc.pid
        if warm:
            self.conn.send(("warm",))
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

    def call(self, request: tuple, on_event: OnEvent) -> Any:
        if self.cancel.is_set():
            raise Cancelled()
        if self.warming:  # a pre-warmed host: the framework import may still be going on
            on_event(("phase", "importing"))
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
            kind = message[0]
            if kind == "ok":
                return message[1]
            if kind == "error":
                raise HostError(message[1], message[2])
            on_event(message)

    def _died(self) -> str:
        if self.cancel.is_set():  # we killed it ourselves
            raise Cancelled()
        self.proc.join(timeout=1.0)
        return (f"engine process {self.pid} died unexpectedly "
                f"({describe_exit(self.proc.exitcode)}){self._log_tail()}")

    def kill(self) -> None:
        """Kill the child at once (cancel, quit)."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(timeout=2.0)

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is None:
            return
        if proc.is_alive():
            try:
                self.conn.send(("stop",))
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


def make_host(impl: str, isolation: str, cancel: threading.Event) -> EngineHost:
    """A host for `impl`: 'process' (child process) or 'thread' (in the caller's thread)."""
    return ProcessHost(impl, cancel) if isolation == "process" else ThreadHost(impl, cancel)
