"""Command line entry point: `fwcompare-tui` (the app), `--list`, `--no-tui`, `--snapshot`.

Imports neither framework (engines load them in their own processes) and Textual only when
the app is actually opened, so `--list` and `--no-tui` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from engines import ENGINE_NAMES, MODES, SCHEDULES, TASKS, Comparison, RunState, settings_for
from engines.base import ENGINE_LABELS, RunSettings
from engines.results import build_results, write_json
from scenarios import Scenario, ScenarioError, discover, find

from .paths import user_scenario_dir

EXIT_OK, EXIT_ENGINE_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BadInput(Exception):
    """Input the program refuses before running anything (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fwcompare-tui",
        description="Compare TensorFlow and PyTorch on the same model, data and initial weights, "
                    "live. With no arguments, opens the terminal UI.",
    )
    p.add_argument("--list", action="store_true", help="list every scenario and exit")
    p.add_argument("--scenario", metavar="NAME", help="scenario to run (see --list)")
    p.add_argument("--scenario-file", metavar="PATH", action="append", default=[],
                   help="load a scenario TOML file (repeatable); runs it unless --scenario is given")
    p.add_argument("--no-tui", action="store_true",
                   help="run headless: progress lines and a summary table")
    p.add_argument("--snapshot", metavar="PATH.svg",
                   help="run the app without a terminal and write an SVG of the final dashboard")
    p.add_argument("--size", metavar="WxH", default="120x40", help="snapshot size (default 120x40)")
    p.add_argument("--steps", type=int, help="steps per engine (default: the scenario's)")
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
    p.add_argument("--threads", type=int, help="threads per engine (default: cores - 1, "
                   "halved in parallel)")
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
                        "(nan|error|oom|crash@STEP, unavailable, slow)")
    return p


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--size: expected WxH such as 120x40, got {text!r}") from None
    if w < 80 or h < 24:
        raise BadInput(f"--size: at least 80x24, got {text!r}")
    return w, h


def load_scenarios(files: list[str]) -> tuple[list[Scenario], list[ScenarioError]]:
    """Built-ins, the user's scenario folder, and --scenario-file files (errors are fatal)."""
    return discover(files, user_scenario_dir())


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


def make_settings(args: argparse.Namespace, scenario: Scenario) -> RunSettings:
    faults: dict[str, str] = {}
    for item in args.fault:
        if "=" not in item:
            raise BadInput(f"--fault: expected ENGINE=SPEC, got {item!r}")
        k, v = item.split("=", 1)
        faults[k] = v
    if faults and not args.fake:
        raise BadInput("--fault only works with --fake engines")
    try:
        return settings_for(
            scenario, steps=args.steps, batch_size=args.batch_size, mode=args.mode,
            task=args.task, schedule=args.schedule, device=args.device, threads=args.threads,
            warmup_steps=args.warmup_steps,
            isolation="thread" if args.in_process else "process", faults=faults,
        )
    except ValueError as err:
        raise BadInput(f"--{str(err).replace('_', '-')}") from None


# -- headless run ------------------------------------------------------------------------------

def _fmt_s(x: float | None, unit: str = "ms") -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.3g} ms" if unit == "ms" else f"{x:.2f} s"


def progress_line(state: RunState) -> str:
    parts = []
    with state.lock:
        for es in state.engines.values():
            loss = f" loss {es.losses[-1]:.4g}" if len(es.losses) else ""
            parts.append(f"{es.label}: {es.phase} {es.steps_done}/{state.settings.steps}{loss}")
    return " | ".join(parts)


def summary_table(doc: dict[str, Any]) -> str:
    rows = [("engine", "status", "steps", "median", "IQR", "samples/s", "first step", "import",
             "final loss")]
    for name, e in doc["engines"].items():
        s = e["summary"]
        rows.append((
            ENGINE_LABELS.get(name, name), e["status"], str(s["steps_done"]),
            _fmt_s(s["median_step_s"]), _fmt_s(s["iqr_step_s"]),
            f"{s['samples_per_s']:.0f}" if s["samples_per_s"] else "-",
            _fmt_s(e["phases_s"].get("first_step")), _fmt_s(e["phases_s"].get("import"), "s"),
            f"{s['final_loss']:.5g}" if s["final_loss"] is not None else "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, e in doc["engines"].items():
        if e["error"]:
            lines.append(f"{ENGINE_LABELS.get(name, name)} {e['status']}: {e['error']}")
    comp = doc.get("comparison", {})
    par = comp.get("parity")
    if par and par["steps_compared"]:
        verdict = "OK" if par["within_tolerance"] else "MISMATCH"
        lines.append(f"parity: {verdict} over {par['steps_compared']} steps, max relative loss "
                     f"difference {par['max_rel_loss_diff']:.2e} (tolerance {par['tolerance']:.0e})")
    sp = comp.get("speedup")
    if sp:
        lo, hi = sp["ci95"]
        caveat = " [unstable measurement]" if sp["unstable"] else ""
        if par and par.get("within_tolerance") is False:
            caveat += " [parity failed: the engines did not do the same work]"
        lines.append(f"speed-up: {ENGINE_LABELS.get(sp['faster'], sp['faster'])} is "
                     f"{sp['ratio']:.2f}x faster per step (95% CI {lo:.2f}-{hi:.2f}){caveat}")
    st = doc["settings"]
    lines.append(f"settings: task {st['task']}, mode {st['mode']}, schedule {st['schedule']}"
                 f"{' (contended)' if st['schedule'] == 'parallel' else ''}, device {st['device']}, "
                 f"{st['threads']} thread(s) each, batch {st['batch_size']}, {st['isolation']}")
    return "\n".join(lines)


def run_headless(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 export_path: str | None, telemetry: bool, out=sys.stdout) -> int:
    comp = Comparison(scenario, settings, engines, telemetry=telemetry)
    print(f"Running {scenario.name!r} on {', '.join(ENGINE_LABELS.get(n, n) for n in engines)}: "
          f"{settings.steps} steps, batch {settings.batch_size}, {settings.task}, "
          f"{settings.mode}, {settings.schedule}", file=out, flush=True)
    tty = out.isatty()
    last = [0.0]

    def poll() -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if tty else 2.0):
            return
        last[0] = now
        line = progress_line(comp.state)
        if tty:
            print("\r\033[K" + line[: os.get_terminal_size().columns - 1], end="", file=out,
                  flush=True)
        else:
            print(line, file=out, flush=True)

    interrupted = False
    comp.start()
    try:
        comp.wait(poll=poll)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping both engines...", file=out, flush=True)
        comp.cancel()
        comp.wait(timeout=2.0)
    if tty:
        print("\r\033[K", end="", file=out)
    doc = build_results(comp.state)
    print(summary_table(doc), file=out, flush=True)
    if export_path:
        write_json(doc, export_path)
        print(f"results written to {export_path}", file=out)
    if interrupted:
        return EXIT_INTERRUPTED
    return comp.state.exit_code()


def list_scenarios(scenarios: list[Scenario], problems: list[ScenarioError], out=sys.stdout) -> None:
    width = max(len(s.name) for s in scenarios)
    for s in scenarios:
        origin = "built-in" if s.builtin else s.source
        print(f"{s.name.ljust(width)}  {s.description}  [{origin}]", file=out)
    for p in problems:
        print(f"warning: skipped {p}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        try:
            scenarios, problems = load_scenarios(args.scenario_file)
        except ScenarioError as err:
            raise BadInput(str(err)) from None
        if args.list:
            list_scenarios(scenarios, problems)
            return EXIT_OK
        if args.export and not args.export.endswith(".json"):
            raise BadInput(f"--export: expected a path ending in .json, got {args.export!r}")
        engines = engine_map(args)
        if args.no_tui:
            try:
                scenario = pick_scenario(args, scenarios)
            except ScenarioError as err:
                raise BadInput(str(err)) from None
            settings = make_settings(args, scenario)
            return run_headless(scenario, settings, engines, args.export,
                                telemetry=not args.no_telemetry)
        from .launch import launch_app  # Textual is imported only here

        return launch_app(args, scenarios, problems, engines)
    except BadInput as err:
        print(f"fwcompare-tui: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def console_main() -> None:  # pragma: no cover - the console script
    sys.exit(main())
