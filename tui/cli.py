"""Command line entry point: `fwcompare-tui` parses its options and dispatches.

`--list`, `--list-runs` and `--compare` print and exit; `--no-tui` and `--matrix` run headless
(tui.headless); everything else opens the app (tui.launch), the only path that imports Textual,
so the others start fast. Imports neither framework: engines load them in their own processes.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from typing import Callable, TextIO

from engines.pairing import DEFAULT_CONFIDENCE_PCT, MIN_CONFIDENT_PAIRS
from engines.precision import PRECISIONS
from engines.registry import ENGINE_NAMES
from engines.run.watchdog import DEFAULT_STALL_TIMEOUT_S, SLOW_STAGE_FACTOR
from engines.settings import MODES, SCALE_BATCH, SCHEDULES, TASKS
from scenarios.input import PIPELINES

from .interrupts import interrupts_held
from .limits import MAX_REPEAT, MAX_SIZE, MAX_STALL_TIMEOUT_S, MAX_STEPS, MAX_THREADS
from .option_rules import given_options
from .options import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UNTIL_CONFIDENT_STEP_FACTOR,
    BadInput,
    Options,
)
from .terminal import flush_output, say


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fwcompare-tui",
        description="Compare TensorFlow and PyTorch on the same model, data and initial weights, "
                    "live. With no arguments, opens the terminal UI.",
    )
    p.add_argument("--list", action="store_true", help="list every scenario and exit")
    p.add_argument("--scenario", metavar="NAME", help="scenario to run (see --list)")
    p.add_argument("--scenario-file", metavar="PATH", action="append", default=[],
                   help="load a scenario TOML file (repeatable); runs it unless --scenario is "
                        "given")
    p.add_argument("--no-tui", action="store_true",
                   help="run headless: progress lines and a summary table")
    p.add_argument("--snapshot", metavar="PATH.svg",
                   help="run the app without a terminal and write an SVG of the final dashboard")
    p.add_argument("--size", metavar="WxH", default="120x40",
                   help=f"snapshot size (default 120x40, at most {MAX_SIZE[0]}x{MAX_SIZE[1]})")
    p.add_argument("--steps", type=int,
                   help=f"steps per engine (default: the scenario's; at most {MAX_STEPS:,})")
    p.add_argument("--batch-size", type=int, help="batch size (default: the scenario's)")
    p.add_argument("--warmup-steps", type=int, help="warm-up steps after the first (default 5)")
    p.add_argument("--mode", choices=MODES, default="eager",
                   help="eager | compiled (tf.function / torch.compile) | xla (TensorFlow "
                        "jit_compile; PyTorch uses torch.compile)")
    p.add_argument("--task", choices=TASKS, default="train", help="train or infer (forward only)")
    p.add_argument("--schedule", choices=SCHEDULES, default="alternate",
                   help="alternate: take turns (default); sequential; parallel: both at once "
                        "(contended)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default) | bf16 | fp16 (CUDA, with loss scaling) | tf32 (CUDA: "
                        "TF32 matmuls on both); mixed modes keep float32 variables")
    p.add_argument("--measure-peak", action="store_true",
                   help="measure each engine's matmul peak again instead of using the one "
                        "cached for this machine")
    p.add_argument("--threads", type=int, help="threads per engine (default: cores - 1, "
                   f"halved in parallel; at most {MAX_THREADS}, a warning above the cores)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="data-parallel replicas per engine, one process each: torch.distributed "
                        "DDP (gloo on CPU) against tf.distribute MultiWorkerMirroredStrategy; "
                        "--threads is split over them; default 1")
    p.add_argument("--scale-batch", choices=SCALE_BATCH, default="global",
                   help="with --workers/--scaling: global: --batch-size is the global batch, "
                        "split over the replicas (strong scaling, default); per-replica: each "
                        "replica takes --batch-size (weak scaling)")
    p.add_argument("--scaling", metavar="LIST",
                   help="(headless) run at each worker count of LIST (e.g. 1,2,4) on every "
                        "engine and report samples/s and scaling efficiency")
    p.add_argument("--engines", default=",".join(ENGINE_NAMES),
                   help="comma-separated engines (default pytorch,tensorflow)")
    p.add_argument("--in-process", action="store_true",
                   help="run engines in the worker threads of this process instead of child "
                        "processes")
    p.add_argument("--export", metavar="PATH.json", help="write the results JSON here")
    p.add_argument("--no-telemetry", action="store_true", help="do not sample CPU/GPU telemetry")
    p.add_argument("--fake", action="store_true",
                   help="use seeded simulated engines (demos, UI tests); no framework needed")
    p.add_argument("--fault", action="append", default=[], metavar="ENGINE=SPEC",
                   help="with --fake: inject a fault, e.g. tensorflow=nan@20 "
                        "(nan|error|oom|crash|hang@STEP, unavailable, slow; with --workers, "
                        "SPEC:RANK hits one replica)")
    p.add_argument("--stall-timeout", type=float, metavar="SECONDS",
                   help="stop an engine that sends no step for this long and mark it failed; "
                        f"the other goes on (default {DEFAULT_STALL_TIMEOUT_S:g}; "
                        f"{SLOW_STAGE_FACTOR}x that while importing, building or compiling; "
                        f"0: never; at most {MAX_STALL_TIMEOUT_S:g})")
    p.add_argument("--until-confident", type=float, nargs="?", const=DEFAULT_CONFIDENCE_PCT,
                   metavar="PCT",
                   help="(headless) keep taking paired turns until the speed-up's 95%% interval "
                        f"is within +-PCT %% (default {DEFAULT_CONFIDENCE_PCT:g}), with at least "
                        f"{MIN_CONFIDENT_PAIRS} turn pairs; at most --steps (default "
                        f"{UNTIL_CONFIDENT_STEP_FACTOR}x the scenario's steps)")
    p.add_argument("--until-stable", action="store_true",
                   help=f"old name of --until-confident {DEFAULT_CONFIDENCE_PCT:g}")
    p.add_argument("--aa", action="store_true",
                   help="A/A run: the first engine of --engines against itself (a calibration "
                        "check: the interval should contain 1 about 95%% of the time)")
    p.add_argument("--gpu", type=int, default=0, metavar="INDEX",
                   help="with --device cuda: the GPU both engines use, as nvidia-smi numbers it "
                        "(its position in CUDA_VISIBLE_DEVICES when that is set); default 0")
    p.add_argument("--cudnn-autotune", choices=("on", "off"), default="on",
                   help="cuDNN autotuning of convolution algorithms, the same on both engines "
                        "(PyTorch cudnn.benchmark, TensorFlow TF_CUDNN_USE_AUTOTUNE); GPU only; "
                        "default on")
    p.add_argument("--input", choices=PIPELINES, default=None,
                   help="how batches reach the model: memory (materialised before timing; the "
                        "default unless the scenario's [input] says otherwise) | native "
                        "(tf.data AUTOTUNE / DataLoader workers) | naive (tf.data untuned, "
                        "sequential map; DataLoader num_workers=0)")
    p.add_argument("--loader-workers", metavar="K|auto",
                   help="DataLoader worker processes / tf.data parallel map calls (default: "
                        "the scenario's [input].workers, else auto)")
    p.add_argument("--loader-sweep", action="store_true",
                   help="(headless) before training, time each engine's loader alone at 0..K "
                        "workers (K: --loader-workers, auto: 2)")
    p.add_argument("--repeat", type=int, metavar="K", default=1,
                   help="run the whole comparison K times, alternating which engine goes first; "
                        f"report per-repeat medians and their spread (at most {MAX_REPEAT})")
    p.add_argument("--matrix", action="store_true",
                   help="run train and infer in every mode on both engines and show one table: "
                        "median, first-step (compile) cost, steps until compiling pays off")
    p.add_argument("--matrix-modes", metavar="LIST", default=",".join(MODES),
                   help=f"modes for --matrix (default {','.join(MODES)})")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                   help="show two results files (saved runs or --export) side by side and exit")
    p.add_argument("--list-runs", action="store_true",
                   help="list saved runs, newest first, and exit")
    p.add_argument("--no-save", action="store_true",
                   help="do not save this run in the saved-runs folder")
    return p


def parse_options(argv: list[str] | None = None) -> Options:
    """The checked options of a command line (argparse exits 2 on an unknown option; the
    checks raise BadInput)."""
    args = build_parser().parse_args(argv)
    return Options.from_args(args, given=given_options(build_parser(), argv))


def list_scenarios(options: Options, out: TextIO) -> int:
    """--list: every scenario; skipped scenario files as warnings on stderr."""
    from .reports import scenario_lines, skipped_lines

    for line in scenario_lines(options.scenarios):
        say(line, out)
    for line in skipped_lines(options.problems):
        say(line, sys.stderr)
    return EXIT_OK


def print_runs(options: Options, out: TextIO) -> int:
    """--list-runs: the saved runs, newest first; skipped files as warnings on stderr."""
    from engines.results.store import list_runs

    from .reports import runs_table

    directory = options.runs_folder
    listing = list_runs(directory)
    for w in listing.warnings:
        say(f"warning: {w}", sys.stderr)
    if not listing.runs:
        say(f"no saved runs in {directory}", out)
        return EXIT_OK
    for line in runs_table(listing.runs):
        say(line, out)
    say(f"({len(listing.runs)} runs in {directory})", out)
    return EXIT_OK


def compare_files(options: Options, out: TextIO) -> int:
    """--compare A.json B.json: the two documents side by side."""
    from engines.results.diff import compare_runs
    from engines.results.store import RunFileError, load_run

    from .reports import compare_text

    assert options.compare is not None
    path_a, path_b = options.compare
    try:
        a, b = load_run(path_a), load_run(path_b)
    except RunFileError as err:
        raise BadInput(f"--compare: {err}") from None
    say(compare_text(compare_runs(a, b), path_a, path_b), out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Parse, check, and run what the command line asks for; returns the exit code.

    Every line goes out through tui.terminal.say: control characters from files never reach
    the terminal, and a closed stdout (`| head`) never stops a run or its export.
    """
    out = sys.stdout
    try:
        # Checking and loading: nothing to stop yet. Ctrl-C here is noted and honoured after
        # (tui.entry says why a KeyboardInterrupt is not raised while modules load).
        with interrupts_held() as came:
            options = parse_options(argv)
            if options.command != "app":
                gc.enable()  # off while starting (tui.entry); the app turns it on itself
            for warning in options.warnings:
                say(f"fwcompare-tui: warning: {warning}", sys.stderr)
            command = _command(options, out)
        if came:
            raise KeyboardInterrupt
        return command()
    except BadInput as err:
        say(f"fwcompare-tui: error: {err}", sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # before a run started (checking, loading): nothing to stop
        say("\ninterrupted", sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        flush_output(out)


def _command(options: Options, out: TextIO) -> Callable[[], int]:
    """What runs the command `options` asks for (its module loaded now)."""
    if options.command == "list":
        return lambda: list_scenarios(options, out)
    if options.command == "list-runs":
        return lambda: print_runs(options, out)
    if options.command == "compare":
        return lambda: compare_files(options, out)
    if options.command == "headless":
        from .headless import run_headless

        return lambda: run_headless(options, out)
    from .launch import launch_app  # Textual is imported only there

    return lambda: launch_app(options)


def console_main() -> None:  # pragma: no cover - the console script
    # A shell without job control starts background commands with SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: restore it so Ctrl-C always stops a run.
    # SIGTERM gets the same graceful path (kill children, export what we have).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
