"""Options: what the command line asked for, checked once, before anything runs.

`Options.from_args` turns argparse's namespace into one frozen, typed value and holds every
input check: a value it refuses raises BadInput (exit code 2, nothing ran). Everything after it
(the headless runner, the app) takes Options and never sees argparse. No Textual, no framework.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engines.pairing import DEFAULT_CONFIDENCE_PCT
from engines.precision import cpu_refusal
from engines.registry import ENGINE_NAMES, TWIN_SUFFIX, impl_name
from engines.settings import MODES, RunSettings, settings_for
from scenarios import Scenario, ScenarioError, discover, find
from scenarios.budget import (
    CPU_FLOPS_PER_THREAD,
    LONG_RUN_S,
    STEP_OVERHEAD_S,
    Budget,
    estimate,
)
from scenarios.spec import MAX_STEPS

from .formatting import fmt_bytes, fmt_duration, fmt_flops
from .paths import peak_cache_dir, runs_dir, user_scenario_dir

# --until-confident without --steps: at most this many times the scenario's steps.
UNTIL_CONFIDENT_STEP_FACTOR = 10

EXIT_OK, EXIT_ENGINE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

Command = Literal["list", "list-runs", "compare", "headless", "app"]

FAULT_SPEC = re.compile(r"(nan|error|oom|crash)@\d+|unavailable|slow")
# Options whose argparse default equals RunSettings' own: only a different value is a choice.
_CHOICE_OPTIONS = ("mode", "task", "schedule", "device", "precision")


class BadInput(Exception):
    """Input the program refuses before running anything (exit code 2)."""


@dataclass(frozen=True)
class Options:
    """The checked command line. `command` says what to do; the other fields what with.

    In the app, `scenario` is the one to open on its dashboard (None: the picker), and
    `settings` are its run settings, or, with no scenario, those of the first scenario the
    options fit (the picker starts from them).
    """

    command: Command
    scenarios: tuple[Scenario, ...] = ()
    problems: tuple[ScenarioError, ...] = ()  # scenario files skipped, with the reason
    scenario: Scenario | None = None
    settings: RunSettings | None = None
    engines: dict[str, str] = field(default_factory=dict)  # name -> implementation
    overrides: dict[str, Any] = field(default_factory=dict)  # run settings set on the line
    export: str | None = None  # --export, as typed
    snapshot: str | None = None
    size: tuple[int, int] | None = None  # terminal size of --snapshot
    compare: tuple[str, str] | None = None
    telemetry: bool = True
    until_confident: float | None = None  # --until-confident PCT (--until-stable: 5)
    repeat: int = 1
    matrix_modes: tuple[str, ...] = ()  # non-empty: --matrix, with "eager" first
    save_runs: bool = True
    runs_folder: Path = field(default_factory=runs_dir)
    user_dir: Path | None = None  # the user's scenario folder, as the picker names it

    @property
    def fixed(self) -> dict[str, Any]:
        """Run settings the picker does not offer: hosting, injected faults, the peak cache."""
        if self.settings is None:
            return {}
        return {"isolation": self.settings.isolation, "faults": dict(self.settings.faults),
                "peak_cache": self.settings.peak_cache,
                "measure_peak": self.settings.measure_peak}

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        """Check the parsed command line; raises BadInput for what it cannot honour.

        The checks run in the order a user meets them: scenario files, the command, then
        the options that command uses (so `--list` works whatever else is on the line).
        """
        try:
            scenarios, problems = discover(args.scenario_file, user_scenario_dir())
        except ScenarioError as err:
            raise BadInput(str(err)) from None
        found = dict(scenarios=tuple(scenarios), problems=tuple(problems),
                     runs_folder=runs_dir(), user_dir=user_scenario_dir())
        if args.list:
            return cls("list", **found)
        if args.list_runs:
            return cls("list-runs", **found)
        if args.compare:
            return cls("compare", compare=(args.compare[0], args.compare[1]), **found)
        if args.repeat < 1:
            raise BadInput(f"--repeat: expected a positive integer, got {args.repeat}")
        matrix_modes = _matrix_modes(args)
        if args.export:
            _check_export_path(args.export)
        common = dict(found, engines=_engine_map(args), export=args.export,
                      telemetry=not args.no_telemetry, save_runs=not args.no_save)
        if args.no_tui or args.matrix:
            scenario = _pick_scenario(args, scenarios)
            settings = _settings(args, scenario)
            _check_run_budget(scenario, settings, common["engines"],
                              runs=args.repeat * (2 * len(matrix_modes) or 1))
            return cls("headless", scenario=scenario, settings=settings,
                       until_confident=_until_confident(args), repeat=args.repeat,
                       matrix_modes=matrix_modes, **common)
        if _until_confident(args) is not None or args.repeat > 1:
            raise BadInput("--until-confident and --repeat run headless: add --no-tui")
        size = _parse_size(args.size) if args.snapshot else None
        scenario = None
        if args.scenario or args.scenario_file or args.snapshot:
            scenario = _pick_scenario(args, scenarios)
            settings = _settings(args, scenario)
            _check_run_budget(scenario, settings, common["engines"])
        else:
            settings = _first_fit(args, scenarios)
        if args.snapshot:
            _check_snapshot_path(args.snapshot)
        return cls("app", scenario=scenario, settings=settings, overrides=_overrides(args),
                   snapshot=args.snapshot, size=size, **common)


# -- the checks --------------------------------------------------------------------------------

def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--size: expected WxH such as 120x40, got {text!r}") from None
    if w < 80 or h < 24:
        raise BadInput(f"--size: at least 80x24, got {text!r}")
    return w, h


def _pick_scenario(args: argparse.Namespace, scenarios: list[Scenario]) -> Scenario:
    """--scenario by name, else the last --scenario-file."""
    try:
        if args.scenario:
            return find(args.scenario, scenarios)
    except ScenarioError as err:
        raise BadInput(str(err)) from None
    if args.scenario_file:
        path = str(Path(args.scenario_file[-1]))
        for s in scenarios:
            if s.source == path:
                return s
    raise BadInput("choose a scenario with --scenario NAME or --scenario-file PATH "
                   "(see --list)")


def _engine_map(args: argparse.Namespace) -> dict[str, str]:
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if not names:
        raise BadInput("--engines: name at least one engine")
    for n in names:
        if n not in ENGINE_NAMES:
            raise BadInput(f"--engines: unknown engine {n!r}; expected {', '.join(ENGINE_NAMES)}")
    if len(set(names)) != len(names):
        raise BadInput("--engines: an engine is named twice (for one engine against itself, "
                       "use --aa)")
    if args.aa:
        # A/A: the first engine on both sides, to measure how often the interval covers 1.
        names = [names[0], names[0] + TWIN_SUFFIX]
        return {n: impl_name(names[0], args.fake) for n in names}
    return {n: impl_name(n, args.fake) for n in names}


def _until_confident(args: argparse.Namespace) -> float | None:
    """--until-confident PCT (or --until-stable, its old name: 5 %); None when not asked."""
    pct = args.until_confident
    if pct is None and args.until_stable:
        pct = DEFAULT_CONFIDENCE_PCT
    if pct is None:
        return None
    if not (0 < pct < 100):  # also refuses nan
        raise BadInput(f"--until-confident: expected a percentage above 0 and below 100, "
                       f"got {pct}")
    if args.schedule != "alternate":
        raise BadInput(f"--until-confident: needs the alternate schedule (paired turns), not "
                       f"--schedule {args.schedule}")
    return float(pct)


def _matrix_modes(args: argparse.Namespace) -> tuple[str, ...]:
    """--matrix's modes, eager first (the baseline of "pays off after"); () without --matrix."""
    if not args.matrix:
        return ()
    modes = tuple(m.strip() for m in args.matrix_modes.split(",") if m.strip())
    if not modes or any(m not in MODES for m in modes):
        raise BadInput(f"--matrix-modes: expected some of {', '.join(MODES)}, got "
                       f"{args.matrix_modes!r}")
    if args.repeat > 1:
        raise BadInput("--matrix and --repeat cannot be combined")
    return modes if "eager" in modes else ("eager", *modes)


def _check_export_path(path: str) -> None:
    """Refuse an --export path that cannot be written, before anything runs."""
    if not path.endswith(".json"):
        raise BadInput(f"--export: expected a path ending in .json, got {path!r}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise BadInput(f"--export: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"--export: folder {str(folder)!r} is not writable")


def _check_snapshot_path(path: str) -> None:
    snap = Path(path)
    if snap.suffix.lower() != ".svg":
        raise BadInput(f"--snapshot: expected a path ending in .svg, got {path!r}")
    if not snap.resolve().parent.is_dir():
        raise BadInput(f"--snapshot: folder {str(snap.resolve().parent)!r} does not exist")


def _faults(args: argparse.Namespace) -> dict[str, str]:
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
    return faults


def _settings(args: argparse.Namespace, scenario: Scenario) -> RunSettings:
    """The run settings of `scenario` under these options."""
    faults = _faults(args)
    steps = args.steps
    if (args.until_confident is not None or args.until_stable) and steps is None:
        steps = min(scenario.train.steps * UNTIL_CONFIDENT_STEP_FACTOR, MAX_STEPS)
    refusal = cpu_refusal(args.precision, args.device)
    if refusal:
        raise BadInput(f"--precision: {refusal}")
    try:
        return settings_for(
            scenario, steps=steps, batch_size=args.batch_size, mode=args.mode,
            task=args.task, schedule=args.schedule, device=args.device, threads=args.threads,
            warmup_steps=args.warmup_steps,
            isolation="thread" if args.in_process else "process", faults=faults,
            gpu=args.gpu, cudnn_autotune=args.cudnn_autotune == "on",
            precision=args.precision, measure_peak=args.measure_peak,
            peak_cache=str(peak_cache_dir()),
        )
    except ValueError as err:
        raise BadInput(f"--{str(err).replace('_', '-')}") from None


def _first_fit(args: argparse.Namespace, scenarios: list[Scenario]) -> RunSettings:
    """Settings for the first scenario the options fit; BadInput when they fit none."""
    first_error: BadInput | None = None
    for s in scenarios:
        try:
            return _settings(args, s)
        except BadInput as err:
            first_error = first_error or err
    raise first_error or BadInput("no scenarios")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Run settings the user chose on the command line (the picker starts from them)."""
    defaults = RunSettings()
    out = {k: getattr(args, k) for k in ("steps", "batch_size", "warmup_steps", "threads")
           if getattr(args, k) is not None}
    for k in _CHOICE_OPTIONS:
        v = getattr(args, k)
        if v is not None and v != getattr(defaults, k):
            out[k] = v
    return out


# -- what a run needs --------------------------------------------------------------------------

def available_memory() -> int:
    """Bytes the machine can give a run now without swapping (psutil's `available`)."""
    import psutil  # imported here: start-up does not need it

    return int(psutil.virtual_memory().available)


def check_budget(scenario: Scenario, settings: RunSettings, engines: int,
                 runs: int = 1) -> str | None:
    """Refuse (BadInput) a run estimated to need more memory than is available; else return
    a warning when it is estimated to take hours on the CPU (`runs` whole runs), or None.

    Every path to a run goes through here (the command line, the picker, `--fake` too), so a
    run that cannot fit is refused before any engine starts. The estimate: scenarios.budget.
    """
    budget = estimate(scenario, settings.batch_size, settings.steps, settings.task, engines)
    available = available_memory()
    if budget.total > available:
        raise BadInput(memory_refusal(scenario, budget, available))
    seconds = runs * budget.seconds(settings.threads)
    if settings.device == "cpu" and seconds >= LONG_RUN_S:
        return (f"the run of {scenario.name} is estimated to take about "
                f"{fmt_duration(seconds)} ({fmt_flops(runs * budget.flops)} at an assumed "
                f"{CPU_FLOPS_PER_THREAD / 1e9:g} GFLOP/s per thread, {settings.threads} "
                f"thread(s), and {STEP_OVERHEAD_S * 1e3:g} ms a step); fewer steps (--steps) "
                f"or a smaller batch make it shorter")
    return None


def memory_refusal(scenario: Scenario, budget: Budget, available: int) -> str:
    """Why a run does not fit: the estimate by term, what is available, and what to change."""
    who = "both engines" if budget.engines == 2 else f"{budget.engines} engine(s)"
    terms = ", ".join(f"{name} {fmt_bytes(size)}" for name, size in budget.terms().items())
    return (f"the run of {scenario.name} needs about {fmt_bytes(budget.total)} of memory "
            f"({who}; each: {terms}), more than the {fmt_bytes(available)} available; "
            f"{budget.advice()}")


def _check_run_budget(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                      runs: int = 1) -> None:
    """check_budget for the command line: a long run is warned about on stderr."""
    warning = check_budget(scenario, settings, len(engines), runs)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
