"""Ctrl-C while results are being saved: noted, not raised, so the export is always whole.

The first Ctrl-C stops a run; what follows (stopping the engines, writing the partial export)
takes a second or two, and a second Ctrl-C in that time must not leave a run without its
export. No Textual.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM are noted instead of raising; the list it yields
    holds those that came. Outside the main thread (where Python cannot set handlers), a
    block that changes nothing."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return

    def note(signum: int, frame: object) -> None:
        came.append(signum)

    before = {sig: signal.getsignal(sig) for sig in HELD_SIGNALS}
    for sig in HELD_SIGNALS:
        signal.signal(sig, note)
    try:
        yield came
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
