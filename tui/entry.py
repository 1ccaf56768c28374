"""The program's entry point (`fwcompare-tui`, `python -m tui`).

The cyclic garbage collector is off while the program starts: imports and the picker's first
frames allocate hundreds of thousands of objects that live as long as the process, and the
collector's passes over them cost 22 ms of the picker's start-up (8 ms of the imports, 14 ms
of the first frames; measured on the reference machine, medians of five). Every path turns
it back on before it does any work of its own: tui.cli for every command but the app, the
app once its picker is drawn or a run starts (tui.app.freeze_heap).

Ctrl-C while the program's modules load is noted, not raised (tui.interrupts), and ends the
program with 130 once they are loaded: a KeyboardInterrupt raised inside an extension's
initialisation makes CPython end the process by SIGINT whatever catches it later.
"""

from __future__ import annotations

import gc
import sys

from .exit_codes import EXIT_INTERRUPTED
from .interrupts import interrupts_held


def main() -> None:  # pragma: no cover - the console script (tests spawn `python -m tui`)
    gc.disable()
    with interrupts_held() as came:
        from .cli import console_main
    if came:
        sys.stderr.write("\nfwcompare-tui: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    console_main()
