"""RunDriver: what a front end drives of a run (the dashboard, and stand-ins in tests and
benchmarks). Comparison is the real one."""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from .state import RunState


@runtime_checkable
class RunDriver(Protocol):
    """One run the front end starts, watches through `state` and may cancel.

    The front end reads `state` under its lock at its own pace (nothing calls back into it),
    and waits for the end from a worker thread, never from its event loop."""

    @property
    def state(self) -> RunState:
        """Everything the run has produced so far."""
        ...

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called: the run did not end on its own."""
        ...

    def start(self) -> None:
        """Start the engines; returns at once."""
        ...

    def cancel(self) -> None:
        """Stop every engine now."""
        ...

    def wait(self, timeout: float | None = None,
             poll: Callable[[], None] | None = None) -> bool:
        """Block until every engine has ended (or `timeout`); True when they have."""
        ...
