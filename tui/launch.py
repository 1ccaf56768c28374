"""launch_app: run the app for checked Options (interactive, or headless for --snapshot)."""

from __future__ import annotations

import sys

from .options import EXIT_INTERRUPTED, Options
from .terminal import say


def launch_app(options: Options) -> int:
    """Run the app; returns the exit code: 0; 1 when an engine failed or an output could not
    be written (--snapshot, --export); 130 after Ctrl-C or SIGTERM. Never 2: bad input was
    refused before this (a run that happened never ends as "nothing ran")."""
    from .app import FwCompareApp  # Textual loads here, after the options are checked

    app = FwCompareApp(options, catch_signals=True)
    try:
        if options.snapshot:
            app.run(headless=True, size=options.size)
            if app.snapshot_written is None and not app.return_code:
                app.exit_notes.append("error: the app ended before the snapshot was written")
                return 1
            return app.return_code or 0
        app.run()
        return app.return_code or 0
    except KeyboardInterrupt:  # before the app could take Ctrl-C itself
        return EXIT_INTERRUPTED
    finally:
        app.close_engines()
        for note in app.exit_notes:
            say(f"fwcompare-tui: {note}", sys.stderr)
