"""Checks of the command line's values and the exit codes (no Textual, no framework)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from engines.registry import ENGINE_NAMES
from engines.settings import RunSettings, settings_for
from scenarios import Scenario, find

# --until-stable without --steps: at most this many times the scenario's steps.
UNTIL_STABLE_STEP_FACTOR = 10

EXIT_OK, EXIT_ENGINE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BadInput(Exception):
    """Input the program refuses before running anything (exit code 2)."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--size: expected WxH such as 120x40, got {text!r}") from None
    if w < 80 or h < 24:
        raise BadInput(f"--size: at least 80x24, got {text!r}")
    return w, h


def pick_scenario(args: argparse.Namespace, scenarios: list[Scenario]) -> Scenario:
    if args.scenario:
        return find(args.scenario, scenarios)
    if args.scenario_file:
        path = str(Path(args.scenario_file[-1]))
        for s in scenarios:
            if s.source == path:
                return s
    raise BadInput("choose a scenario with --scenario NAME or --scenario-file PATH "
                   "(see --list)")


def engine_map(args: argparse.Namespace) -> dict[str, str]:
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if not names:
        raise BadInput("--engines: name at least one engine")
    for n in names:
        if n not in ENGINE_NAMES:
            raise BadInput(f"--engines: unknown engine {n!r}; expected {', '.join(ENGINE_NAMES)}")
    if len(set(names)) != len(names):
        raise BadInput("--engines: an engine is named twice")
    return {n: (f"fake:{n}" if args.fake else n) for n in names}


FAULT_SPEC = re.compile(r"(nan|error|oom|crash)@\d+|unavailable|slow")


def check_export_path(path: str) -> None:
    """Refuse an --export path that cannot be written, before anything runs."""
    if not path.endswith(".json"):
        raise BadInput(f"--export: expected a path ending in .json, got {path!r}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise BadInput(f"--export: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"--export: folder {str(folder)!r} is not writable")


def make_settings(args: argparse.Namespace, scenario: Scenario) -> RunSettings:
    faults: dict[str, str] = {}
    for item in args.fault:
        if "=" not in item:
            raise BadInput(f"--fault: expected ENGINE=SPEC, got {item!r}")
        k, v = item.split("=", 1)
        if k not in ENGINE_NAMES:
            raise BadInput(f"--fault: unknown engine {k!r}; expected {', '.join(ENGINE_NAMES)}")
        if not FAULT_SPEC.fullmatch(v):
            raise BadInput(f"--fault: expected nan@STEP, error@STEP, oom@STEP, crash@STEP, "
                           f"unavailable or slow, got {v!r}")
        faults[k] = v
    if faults and not args.fake:
        raise BadInput("--fault only works with --fake engines")
    steps = args.steps
    if getattr(args, "until_stable", False) and steps is None:
        steps = scenario.train.steps * UNTIL_STABLE_STEP_FACTOR
    try:
        return settings_for(
            scenario, steps=steps, batch_size=args.batch_size, mode=args.mode,
            task=args.task, schedule=args.schedule, device=args.device, threads=args.threads,
            warmup_steps=args.warmup_steps,
            isolation="thread" if args.in_process else "process", faults=faults,
        )
    except ValueError as err:
        raise BadInput(f"--{str(err).replace('_', '-')}") from None
