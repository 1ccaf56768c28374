"""launch_app: run the app for checked Options (interactive, or headless for --snapshot)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .interrupts import interrupts_held
from .options import EXIT_INTERRUPTED, Options
from .terminal import say

if TYPE_CHECKING:
    from .app import FwCompareApp


def launch_app(options: Options) -> int:
    """Run the app; returns the exit code: 0; 1 when an engine failed or an output could not
    be written (--snapshot, --export); 130 after Ctrl-C or SIGTERM. Never 2: bad input was
    refused before this (a run that happened never ends as "nothing ran")."""
    # Ctrl-C and SIGTERM are noted, not raised, from here until the app takes them itself
    # (App.on_load): a KeyboardInterrupt while Textual loads, or while asyncio builds its
    # loop, leaves a half-built loop and a never-awaited coroutine shouting on stderr
    # (tui.entry says why raising while modules load is worse still). One that came before
    # the app took over is handed to it, and it leaves as after any Ctrl-C.
    with interrupts_held() as came:
        from .app import FwCompareApp

        if options.snapshot:
            import textual.drivers.headless_driver  # noqa: F401  (loaded by App.run)
        app = FwCompareApp(options, catch_signals=True,  # its driver's module loads here
                           interrupts_before_start=came)
        if came:
            return EXIT_INTERRUPTED
        try:
            code = _run(app, options)
        except KeyboardInterrupt:  # after asyncio gave Ctrl-C back, as the app ended
            code = EXIT_INTERRUPTED
        finally:
            with interrupts_held():  # the engines stopped and every note said, whatever comes
                app.close_engines()
                for note in app.exit_notes:
                    say(f"fwcompare-tui: {note}", sys.stderr)
        return EXIT_INTERRUPTED if came else code


def _run(app: FwCompareApp, options: Options) -> int:
    if not options.snapshot:
        app.run()
        return app.return_code or 0
    app.run(headless=True, size=options.size)
    if app.snapshot_written is None and not app.return_code:
        app.exit_notes.append("error: the app ended before the snapshot was written")
        return 1
    return app.return_code or 0
