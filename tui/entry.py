"""The program's entry point (`fwcompare-tui`, `python -m tui`).

The cyclic garbage collector is off while the program starts: imports and the picker's first
frames allocate hundreds of thousands of objects that live as long as the process, and the
collector's passes over them cost 22 ms of the picker's start-up (8 ms of the imports, 14 ms
of the first frames; measured on the reference machine, medians of five). Every path turns
it back on before it does any work of its own: tui.cli for every command but the app, the
app once its picker is drawn or a run starts (tui.app.freeze_heap).
"""

from __future__ import annotations

import gc


def main() -> None:  # pragma: no cover - the console script (tests spawn `python -m tui`)
    gc.disable()
    from .cli import console_main

    console_main()
