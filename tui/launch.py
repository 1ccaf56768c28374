"""launch_app: run the app for checked Options (interactive, or headless for --snapshot)."""

from __future__ import annotations

import gc

from .options import EXIT_INTERRUPTED, Options


def launch_app(options: Options) -> int:
    """Run the app; returns the exit code (0, 1 if an engine failed in --snapshot, 2)."""
    from .app import FwCompareApp  # Textual loads here, after the options are checked

    app = FwCompareApp(options)
    # Everything imported so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise scan it again every time (a pause keys feel).
    gc.collect()
    gc.freeze()
    try:
        if options.snapshot:
            app.run(headless=True, size=options.size)
            if app.snapshot_written is None:  # the app failed before the screenshot
                return app.return_code or 1
            return app.return_code or 0
        app.run()
        return app.return_code or 0
    except KeyboardInterrupt:  # Ctrl-C in --snapshot mode (the app itself binds it to quit)
        return EXIT_INTERRUPTED
    finally:
        app.close_engines()
