"""Options: what the command line asked for, checked once, before anything runs.

`Options.from_args` turns argparse's namespace into one frozen, typed value and holds every
input check: a value it refuses raises BadInput (exit code 2, nothing ran). Everything after it
(the headless runner, the app) takes Options and never sees argparse. No Textual, no framework.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from engines.distributed.rules import budget_note, cores_problem
from engines.distributed.scaling import scaled_settings
from engines.pairing import DEFAULT_CONFIDENCE_PCT
from engines.precision import cpu_refusal
from engines.registry import ENGINE_NAMES, TWIN_SUFFIX, impl_name
from engines.run.watchdog import DEFAULT_STALL_TIMEOUT_S
from engines.settings import MAX_WORKERS, MODES, RunSettings, settings_for
from scenarios import Scenario, ScenarioError, discover, find
from scenarios.budget import (
    CPU_FLOPS_PER_THREAD,
    LONG_RUN_S,
    STEP_OVERHEAD_S,
    Budget,
    estimate,
)
from scenarios.input import MAX_LOADER_WORKERS, check_workers

from .exit_codes import (  # noqa: F401  (named from here by the rest of tui)
    EXIT_BAD_INPUT,
    EXIT_ENGINE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
)
from .formatting import fmt_bytes, fmt_duration, fmt_flops
from .limits import (
    MAX_REPEAT,
    MAX_STALL_TIMEOUT_S,
    MAX_STEPS,
    run_limit_error,
    threads_warning,
)
from .option_rules import (
    LISTING_USES,
    OptionError,
    check_output_path,
    empty_values,
    parse_size,
    unused_options,
    use_of,
)
from .paths import peak_cache_dir, runs_dir, user_scenario_dir

# --until-confident without --steps: at most this many times the scenario's steps.
UNTIL_CONFIDENT_STEP_FACTOR = 10

Command = Literal["list", "list-runs", "compare", "headless", "app"]

# A fault of one data-parallel replica only: ':RANK' after it (crash@5:1).
FAULT_SPEC = re.compile(r"(nan|error|oom|crash|hang)@\d{1,9}(:\d{1,2})?|unavailable|slow")
# Faults that end or freeze the engine's process: only a child process can take them.
PROCESS_FAULTS = ("crash@", "hang@")
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
    stall_timeout: float = DEFAULT_STALL_TIMEOUT_S  # seconds; 0: no stall watchdog
    scaling: tuple[int, ...] = ()  # --scaling: worker counts, ascending, from 1
    # Said on stderr before the command runs (and in the app): options a listing command
    # ignores, more threads than cores.
    warnings: tuple[str, ...] = ()

    @property
    def fixed(self) -> dict[str, Any]:
        """Run settings the picker does not offer: hosting, injected faults, the peak cache."""
        if self.settings is None:
            return {}
        return {"isolation": self.settings.isolation, "faults": dict(self.settings.faults),
                "peak_cache": self.settings.peak_cache,
                "measure_peak": self.settings.measure_peak}

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  given: frozenset[str] | None = None) -> Options:
        """Check the parsed command line; raises BadInput for what it cannot honour.

        `given`: the options the line itself set (tui.option_rules.given_options; None: the
        checks that need to know are skipped). The checks run in the order a user meets
        them: empty values, what the line asks for and the options it does not use (refused
        when the line runs engines, a warning when it only lists or compares), scenario
        files, then the options the command uses.
        """
        given = given if given is not None else frozenset()
        try:
            return cls._from_args(args, given)
        except OptionError as err:
            raise BadInput(str(err)) from None

    @classmethod
    def _from_args(cls, args: argparse.Namespace, given: frozenset[str]) -> Options:
        empty = empty_values(args, given)
        if empty:
            raise BadInput(empty[0])
        use = use_of(args)
        unused = unused_options(use, given)
        if unused and use not in LISTING_USES:
            raise BadInput(unused[0])
        ignored = dict(runs_folder=runs_dir(), user_dir=user_scenario_dir(),
                       warnings=tuple(f"{w}; ignored" for w in unused))
        if use == "list-runs":
            return cls("list-runs", **ignored)
        if use == "compare":
            return cls("compare", compare=(args.compare[0], args.compare[1]), **ignored)
        try:
            scenarios, problems = discover(args.scenario_file, user_scenario_dir())
        except ScenarioError as err:
            raise BadInput(str(err)) from None
        found = dict(ignored, scenarios=tuple(scenarios), problems=tuple(problems))
        if use == "list":
            return cls("list", **found)
        _check_combinations(args, given)
        if not 1 <= args.repeat <= MAX_REPEAT:
            raise BadInput(f"--repeat: expected a whole number from 1 to {MAX_REPEAT}, got "
                           f"{args.repeat}")
        _check_replicas(args)
        matrix_modes = _matrix_modes(args)
        if args.export is not None:
            check_output_path(args.export, "--export", ".json")
        common = dict(found, engines=_engine_map(args), export=args.export,
                      telemetry=not args.no_telemetry, save_runs=not args.no_save,
                      stall_timeout=_stall_timeout(args))
        if use in ("headless", "matrix"):
            scenario = _pick_scenario(args, scenarios)
            settings = _settings(args, scenario)
            scaling = _scaling(args, scenario, settings)
            # A scaling run's largest worker count holds the most processes at once.
            _check_run_budget(scenario, scaled_settings(settings, scaling[-1]) if scaling
                              else settings, common["engines"],
                              runs=args.repeat * (2 * len(matrix_modes) or len(scaling) or 1))
            return cls("headless", scenario=scenario, settings=settings,
                       until_confident=_until_confident(args), repeat=args.repeat,
                       matrix_modes=matrix_modes, scaling=scaling,
                       **_with_warnings(common, _threads_warning(settings, given),
                                        _replica_threads_note(settings)))
        size = parse_size(args.size) if use == "snapshot" else None
        scenario = None
        if args.scenario or args.scenario_file or use == "snapshot":
            scenario = _pick_scenario(args, scenarios)
            settings = _settings(args, scenario)
            _check_run_budget(scenario, settings, common["engines"])
        else:
            settings = _first_fit(args, scenarios)
        if use == "snapshot":
            check_output_path(args.snapshot, "--snapshot", ".svg")
        return cls("app", scenario=scenario, settings=settings, overrides=_overrides(args),
                   snapshot=args.snapshot, size=size,
                   **_with_warnings(common, _threads_warning(settings, given),
                                        _replica_threads_note(settings)))


# -- the checks --------------------------------------------------------------------------------

def _names(args: argparse.Namespace) -> list[str]:
    return [n.strip() for n in args.engines.split(",") if n.strip()]


def _check_combinations(args: argparse.Namespace, given: frozenset[str]) -> None:
    """Options that do nothing, or cannot work, together with the others on a run's line."""
    if {"gpu", "cudnn_autotune"} & given and args.device != "cuda":
        which = "--gpu" if "gpu" in given else "--cudnn-autotune"
        raise BadInput(f"{which} has no effect without --device cuda")
    if args.aa and "engines" in given and len(_names(args)) > 1:
        raise BadInput("--aa runs one engine against itself: name one engine in --engines "
                       f"(got {args.engines!r})")
    if args.until_confident is not None and args.until_stable:
        raise BadInput("--until-stable is the old name of --until-confident "
                       f"{DEFAULT_CONFIDENCE_PCT:g}: give one of them")
    one_engine = len(_names(args)) == 1 and not args.aa
    if one_engine and (args.until_confident is not None or args.until_stable):
        raise BadInput("--until-confident measures a speed-up between two engines; "
                       f"--engines {args.engines} names one")
    if one_engine and "schedule" in given:
        raise BadInput(f"--schedule has no effect with one engine (--engines {args.engines})")
    if len(args.scenario_file) > 1 and not args.scenario:
        raise BadInput(f"{len(args.scenario_file)} --scenario-file given: say which one to run "
                       "with --scenario NAME")


def _stall_timeout(args: argparse.Namespace) -> float:
    t = args.stall_timeout
    if t is None:
        return DEFAULT_STALL_TIMEOUT_S
    if not (math.isfinite(t) and 0 <= t <= MAX_STALL_TIMEOUT_S):
        raise BadInput(f"--stall-timeout: expected seconds from 0 (no watchdog) to "
                       f"{MAX_STALL_TIMEOUT_S:g}, got {t}")
    return float(t)


def _threads_warning(settings: RunSettings, given: frozenset[str]) -> str | None:
    return threads_warning(settings.threads) if "threads" in given else None


def _replica_threads_note(settings: RunSettings) -> str | None:
    """A warning when the thread budget does not split evenly over the replicas."""
    return budget_note(settings.workers, settings.threads) if settings.workers > 1 else None


def _with_warnings(common: dict[str, Any], *more: str | None) -> dict[str, Any]:
    return dict(common, warnings=common["warnings"] + tuple(w for w in more if w))


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
    names = _names(args)
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
    if not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise BadInput(f"--matrix-modes: expected some of {', '.join(MODES)}, each once, got "
                       f"{args.matrix_modes!r}")
    if args.repeat > 1:
        raise BadInput("--matrix and --repeat cannot be combined")
    return modes if "eager" in modes else ("eager", *modes)


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
                           f"hang@STEP (with --workers, any of them :RANK), unavailable or "
                           f"slow, got {v!r}")
        if k in faults:
            raise BadInput(f"--fault: two faults for {k}; give one")
        _, _, rank = v.partition(":")
        if rank and int(rank) >= (args.workers or 1):
            raise BadInput(f"--fault {k}={v}: replica {rank} does not exist (replicas are "
                           f"numbered from 0 to --workers minus 1; --workers is "
                           f"{args.workers or 1})")
        faults[k] = v
    if faults and not args.fake:
        raise BadInput("--fault only works with --fake engines")
    selected = _names(args)[:1] if args.aa else _names(args)
    for k, v in faults.items():
        if k not in selected:
            raise BadInput(f"--fault {k}={v} has no effect: {k} is not among the engines run "
                           f"({', '.join(selected)})")
        if args.in_process and v.startswith(PROCESS_FAULTS):
            raise BadInput(f"--fault {k}={v} needs the engine in its own process: it would "
                           f"{'end' if v.startswith('crash') else 'freeze'} this one too "
                           f"(remove --in-process)")
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
    workers = args.workers if args.workers is not None else 1
    batch_size = args.batch_size
    if args.scale_batch == "per-replica" and workers > 1:  # --batch-size is each replica's
        batch_size = (batch_size or scenario.train.batch_size) * workers
    try:
        settings = settings_for(
            scenario, steps=steps, batch_size=batch_size, mode=args.mode,
            task=args.task, schedule=args.schedule, device=args.device, threads=args.threads,
            warmup_steps=args.warmup_steps,
            isolation="thread" if args.in_process else "process", faults=faults,
            gpu=args.gpu, cudnn_autotune=args.cudnn_autotune == "on",
            precision=args.precision, measure_peak=args.measure_peak,
            peak_cache=str(peak_cache_dir()),
            workers=workers, scale_batch=args.scale_batch,
            input_pipeline=args.input, loader_workers=_loader_workers(args),
            loader_sweep=bool(getattr(args, "loader_sweep", False)) or None,
        )
    except ValueError as err:
        raise BadInput(f"--{str(err).replace('_', '-')}") from None
    if settings.device == "cpu" and settings.workers > 1:
        problem = cores_problem(settings.workers, settings.threads)
        if problem:
            raise BadInput(f"--{problem}")
    problem = run_limit_error(settings)
    if problem is not None:
        where = "" if args.steps is not None or not problem.startswith("steps") else \
            f" (the scenario {scenario.name!r} asks for them; set --steps)"
        raise BadInput(f"--{problem.replace('_', '-')}{where}")
    return settings


def _check_replicas(args: argparse.Namespace) -> None:
    """What data-parallel replicas (--workers, --scaling) cannot be combined with."""
    if (args.workers or 1) > 1 or args.scaling is not None:
        which = "--scaling" if args.scaling is not None else "--workers"
        if args.matrix:
            raise BadInput(f"{which} cannot be combined with --matrix (its infer cells have "
                           "no gradients to all-reduce)")


def _scaling(args: argparse.Namespace, scenario: Scenario,
             settings: RunSettings) -> tuple[int, ...]:
    """--scaling's worker counts (ascending, starting at 1), each checked as a run of its
    own; () without --scaling."""
    if args.scaling is None:
        return ()
    text = args.scaling
    try:
        counts = tuple(sorted(int(x) for x in text.split(",")))
    except ValueError:
        raise BadInput(f"--scaling: expected worker counts such as 1,2,4, got {text!r}") \
            from None
    if len(set(counts)) != len(counts) or counts[0] != 1 or counts[-1] > MAX_WORKERS \
            or len(counts) < 2:
        raise BadInput(f"--scaling: expected at least two distinct worker counts from 1 (the "
                       f"baseline) to {MAX_WORKERS}, got {text!r}")
    if args.workers is not None:
        raise BadInput("--scaling runs every worker count of its list: --workers has no "
                       "effect with it")
    if args.repeat > 1:
        raise BadInput("--scaling cannot be combined with --repeat")
    if settings.task != "train":
        raise BadInput("--scaling measures training: --task infer has no gradients to "
                       "all-reduce")
    for n in counts[1:]:
        scaled = scaled_settings(settings, n)
        try:
            scaled.validate()
        except ValueError as err:
            raise BadInput(f"--scaling {n}: --{str(err).replace('_', '-')}") from None
        if scaled.batch_size > scenario.data.train_samples:
            raise BadInput(f"--scaling {n}: the global batch of {scaled.batch_size} exceeds "
                           f"the scenario's {scenario.data.train_samples} training samples")
        problem = cores_problem(n, settings.threads) if settings.device == "cpu" else None
        if problem:
            raise BadInput(f"--scaling {n}: --{problem}")
    return counts


def _loader_workers(args: argparse.Namespace) -> int | str | None:
    """--loader-workers K|auto as a setting (None: not given, the scenario's)."""
    text = args.loader_workers
    if text is None:
        return None
    try:
        return check_workers("auto" if text.strip() == "auto" else int(text, 10))
    except ValueError as err:
        if "invalid literal" in str(err):
            raise BadInput(f"--loader-workers: expected \"auto\" or an integer from 0 to "
                           f"{MAX_LOADER_WORKERS}, got {text[:40]!r}") from None
        raise BadInput(f"--loader-workers: {str(err)[:120]}") from None


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
    out = {k: getattr(args, k) for k in ("steps", "batch_size", "warmup_steps", "threads",
                                         "workers")
           if getattr(args, k) is not None}
    for k in _CHOICE_OPTIONS:
        v = getattr(args, k)
        if v is not None and v != getattr(defaults, k):
            out[k] = v
    if args.input is not None:  # chosen on the line: wins over the scenario's [input]
        out["input_pipeline"] = args.input
    if args.loader_workers is not None:
        out["loader_workers"] = _loader_workers(args)
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
    budget = estimate(scenario, settings.batch_size, settings.steps, settings.task, engines,
                      settings.input_pipeline)
    available = available_memory()
    # Data-parallel replicas: each is a process holding the framework, the model and the
    # batches (the compute is split, not repeated).
    held = replace(budget, engines=engines * settings.workers)
    if held.total > available:
        raise BadInput(memory_refusal(scenario, held, available,
                                      replicas=settings.workers))
    seconds = runs * budget.seconds(settings.threads)
    if settings.device == "cpu" and seconds >= LONG_RUN_S:
        return (f"the run of {scenario.name} is estimated to take about "
                f"{fmt_duration(seconds)} ({fmt_flops(runs * budget.flops)} at an assumed "
                f"{CPU_FLOPS_PER_THREAD / 1e9:g} GFLOP/s per thread, {settings.threads} "
                f"thread(s), and {STEP_OVERHEAD_S * 1e3:g} ms a step); fewer steps (--steps) "
                f"or a smaller batch make it shorter")
    return None


def memory_refusal(scenario: Scenario, budget: Budget, available: int,
                   replicas: int = 1) -> str:
    """Why a run does not fit: the estimate by term, what is available, and what to change.
    `replicas`: each engine's data-parallel processes (budget.engines counts them all)."""
    who = "both engines" if budget.engines == 2 else f"{budget.engines} engine(s)"
    if replicas > 1:
        who = f"{budget.engines // replicas} engine(s) x {replicas} replica processes"
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
