"""HostPool: engine processes started before a run, so the framework import is paid while the
user is still choosing.

The app asks the pool to warm every engine it may run (one idle child per implementation); a
`Comparison` built with `pool=` takes a warm child when one fits (same implementation, process
isolation) and starts a fresh one otherwise. A taken child runs exactly one comparison, then is
closed as usual; the app warms again for the next run. Thread-safe; no UI here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from .host import ProcessHost

HostFactory = Callable[[str, threading.Event], "ProcessHost"]


def _process_host(impl: str, cancel: threading.Event) -> ProcessHost:
    # The host module loads with the first warm child, not with the app (start-up).
    from .host import ProcessHost

    return ProcessHost(impl, cancel)


class HostPool:
    """At most one idle, pre-warmed engine process per implementation."""

    def __init__(self, host_factory: HostFactory = _process_host) -> None:
        self._factory = host_factory
        self._idle: dict[str, ProcessHost] = {}
        self._lock = threading.Lock()
        self._closed = False

    def warm(self, impls: Iterable[str]) -> None:
        """Start a warm child for each implementation that has no live idle one yet.

        Returns once the children are spawned (tens of ms each); the imports go on in them.
        """
        for impl in dict.fromkeys(impls):
            with self._lock:
                if self._closed:
                    return
                idle = self._idle.get(impl)
                if idle is not None and idle.alive():
                    continue
                if idle is not None:  # died while waiting (killed from outside): replace it
                    idle.close()
                host = self._factory(impl, threading.Event())
                host.start(warm=True)
                self._idle[impl] = host

    def take(self, impl: str, cancel: threading.Event) -> ProcessHost | None:
        """The idle warm child for `impl` (now bound to `cancel`), or None when there is none."""
        with self._lock:
            host = self._idle.pop(impl, None)
        if host is None:
            return None
        if not host.alive():
            host.close()
            return None
        host.cancel = cancel
        return host

    def idle_pids(self) -> dict[str, int | None]:
        """Process ids of the idle children, by implementation."""
        with self._lock:
            return {impl: h.pid for impl, h in self._idle.items()}

    def discard_except(self, impls: Iterable[str]) -> None:
        """Stop idle children of other implementations (a run is starting without them: one
        still importing would load the CPU during the run's timed steps)."""
        keep = set(impls)
        with self._lock:
            drop = [h for impl, h in self._idle.items() if impl not in keep]
            self._idle = {impl: h for impl, h in self._idle.items() if impl in keep}
        for host in drop:
            host.kill()
            host.close()

    def close(self) -> None:
        """Stop every idle child; the pool starts no more. Safe to call twice."""
        with self._lock:
            self._closed = True
            hosts, self._idle = list(self._idle.values()), {}
        for host in hosts:
            host.kill()  # a child busy importing would not read a polite "stop" for seconds
            host.close()

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed
