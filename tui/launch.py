"""launch_app: turn the command line into a running app (interactive or --snapshot)."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from engines.settings import RunSettings
from scenarios import Scenario, ScenarioError

from .options import EXIT_INTERRUPTED, BadInput, make_settings, parse_size, pick_scenario
from .paths import user_scenario_dir

# Options whose argparse default equals RunSettings' own: only a different value is a choice.
_CHOICE_OPTIONS = ("mode", "task", "schedule", "device")


def overrides_from_args(args: argparse.Namespace) -> dict:
    """Run settings the user chose on the command line (the picker starts from them)."""
    defaults = RunSettings()
    out = {k: getattr(args, k) for k in ("steps", "batch_size", "warmup_steps", "threads")
           if getattr(args, k, None) is not None}
    for k in _CHOICE_OPTIONS:
        v = getattr(args, k, None)
        if v is not None and v != getattr(defaults, k):
            out[k] = v
    return out


def _check_args(args: argparse.Namespace, scenarios: list[Scenario]) -> RunSettings:
    """Settings for the first scenario the options fit; BadInput when they fit none."""
    first_error: BadInput | None = None
    for s in scenarios:
        try:
            return make_settings(args, s)
        except BadInput as err:
            first_error = first_error or err
    raise first_error or BadInput("no scenarios")


def build_app(args: argparse.Namespace, scenarios: list[Scenario], problems: list,
              engines: dict[str, str]):
    """The app for these options (raises BadInput for options it cannot honour)."""
    from .app import FwCompareApp  # Textual loads here, after the arguments are checked

    autorun = None
    if args.scenario or args.scenario_file or args.snapshot:
        try:
            scenario = pick_scenario(args, scenarios)
        except ScenarioError as err:
            raise BadInput(str(err)) from None
        autorun = (scenario, make_settings(args, scenario))
        template = autorun[1]
    else:
        template = _check_args(args, scenarios)
    if args.snapshot:
        snap = Path(args.snapshot)
        if snap.suffix.lower() != ".svg":
            raise BadInput(f"--snapshot: expected a path ending in .svg, got {args.snapshot!r}")
        if not snap.resolve().parent.is_dir():
            raise BadInput(f"--snapshot: folder {str(snap.resolve().parent)!r} does not exist")
    if args.export and not Path(args.export).resolve().parent.is_dir():
        raise BadInput(f"--export: folder {str(Path(args.export).resolve().parent)!r} does "
                       f"not exist")
    fixed = {"isolation": template.isolation, "faults": dict(template.faults)}
    return FwCompareApp(
        scenarios, problems, engines,
        overrides=overrides_from_args(args), fixed=fixed,
        telemetry=not args.no_telemetry, autorun=autorun,
        snapshot_path=args.snapshot, export_path=args.export,
        user_dir=user_scenario_dir(), save_runs=not getattr(args, "no_save", False),
    )


def launch_app(args: argparse.Namespace, scenarios: list[Scenario], problems: list,
               engines: dict[str, str]) -> int:
    """Run the app; returns the exit code (0, 1 if an engine failed in --snapshot, 2)."""
    size = parse_size(args.size) if args.snapshot else None
    app = build_app(args, scenarios, problems, engines)
    # Everything imported so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise scan it again every time (a pause keys feel).
    gc.collect()
    gc.freeze()
    try:
        if args.snapshot:
            app.run(headless=True, size=size)
            if app.snapshot_written is None:  # the app failed before the screenshot
                return app.return_code or 1
            return app.return_code or 0
        app.run()
        return app.return_code or 0
    except KeyboardInterrupt:  # Ctrl-C in --snapshot mode (the app itself binds it to quit)
        return EXIT_INTERRUPTED
    finally:
        app.close_engines()
