"""Command line entry point: `fwcompare-tui` (the app), `--list`, `--no-tui`, `--snapshot`.

Imports neither framework (engines load them in their own processes) and Textual only when
the app is actually opened, so `--list` and `--no-tui` start fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from engines import ENGINE_NAMES, MODES, SCHEDULES, TASKS, Comparison, RunState
from engines.registry import ENGINE_LABELS
from engines.results.diff import compare_runs
from engines.results.document import build_results, write_json
from engines.results.inference import format_inference, inference_settings, merge_inference
from engines.results.matrix import build_matrix_doc, format_matrix, matrix_cells
from engines.results.repeats import merge_repeats, repeat_orders
from engines.results.store import RunFileError, list_runs, load_run, save_run
from engines.settings import RunSettings
from scenarios import Scenario, ScenarioError, discover

from .options import (
    EXIT_BAD_INPUT,
    EXIT_ENGINE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UNTIL_STABLE_STEP_FACTOR,
    BadInput,
    check_export_path,
    engine_map,
    make_settings,
    pick_scenario,
)
from .paths import runs_dir, user_scenario_dir


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
    p.add_argument("--until-stable", action="store_true",
                   help="keep stepping until both engines are stable (IQR/median <= 10%%), at "
                        f"most --steps (default {UNTIL_STABLE_STEP_FACTOR}x the scenario's steps)")
    p.add_argument("--repeat", type=int, metavar="K", default=1,
                   help="run the whole comparison K times, alternating which engine goes first; "
                        "report per-repeat medians and their spread")
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


def load_scenarios(files: list[str]) -> tuple[list[Scenario], list[ScenarioError]]:
    """Built-ins, the user's scenario folder, and --scenario-file files (errors are fatal)."""
    return discover(files, user_scenario_dir())


def export_to(doc: dict[str, Any], path: str, out, what: str = "results") -> bool:
    """Write the results; a failure is a clear message, not a traceback. True when written."""
    try:
        write_json(doc, path)
    except (OSError, ValueError) as err:
        print(f"fwcompare-tui: error: could not write {path}: {err}", file=sys.stderr)
        return False
    print(f"{what} written to {path}", file=out)
    return True


# -- headless run ------------------------------------------------------------------------------

def _fmt_s(x: float | None, unit: str = "ms") -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.3g} ms" if unit == "ms" and x < 1 else f"{x:.2f} s"


def progress_line(state: RunState) -> str:
    parts = []
    with state.lock:
        for es in state.engines.values():
            loss = f" loss {es.losses[-1]:.4g}" if len(es.losses) else ""
            parts.append(f"{es.label}: {es.phase} {es.steps_done}/{state.settings.steps}{loss}")
    return " | ".join(parts)


def summary_table(doc: dict[str, Any]) -> str:
    rows = [("engine", "status", "steps", "median", "IQR", "samples/s", "first step", "import",
             "final loss", "stable")]
    for name, e in doc["engines"].items():
        s = e["summary"]
        rows.append((
            ENGINE_LABELS.get(name, name), e["status"], str(s["steps_done"]),
            _fmt_s(s["median_step_s"]), _fmt_s(s["iqr_step_s"]),
            f"{s['samples_per_s']:.0f}" if s["samples_per_s"] else "-",
            _fmt_s(e["phases_s"].get("first_step")), _fmt_s(e["phases_s"].get("import"), "s"),
            f"{s['final_loss']:.5g}" if s["final_loss"] is not None else "-",
            _stable_cell(s),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, e in doc["engines"].items():
        if e["error"]:
            lines.append(f"{ENGINE_LABELS.get(name, name)} {e['status']}: {e['error']}")
    comp = doc.get("comparison", {})
    par = comp.get("parity")
    if par and par["steps_compared"]:
        verdict = "OK" if par["within_tolerance"] else "MISMATCH"

        def sci(x: float | None) -> str:
            return "n/a (non-finite)" if x is None else f"{x:.2e}"

        line = (f"parity: {verdict}: first {par.get('early_steps', 0)} steps agree to "
                f"{sci(par.get('early_max_rel_loss_diff'))} relative "
                f"(tolerance {par.get('early_tolerance', par['tolerance']):.0e})")
        if par["steps_compared"] > par.get("early_steps", 0):
            line += (f"; all {par['steps_compared']} steps to {sci(par['max_rel_loss_diff'])} "
                     f"(drift tolerance {par['tolerance']:.0e})")
        lines.append(line)
    sp = comp.get("speedup")
    if sp:
        lo, hi = sp["ci95"]
        caveat = " [unstable measurement]" if sp["unstable"] else ""
        if par and par.get("within_tolerance") is False:
            caveat += " [parity failed: the engines did not do the same work]"
        lines.append(f"speed-up: {ENGINE_LABELS.get(sp['faster'], sp['faster'])} is "
                     f"{sp['ratio']:.2f}x faster per step (95% CI {lo:.2f}-{hi:.2f}){caveat}")
    stab = comp.get("stability") or {}
    if stab.get("until_stable"):
        parts = []
        for name, at in (stab.get("stopped_at_step") or {}).items():
            label = ENGINE_LABELS.get(name, name)
            stable = "stable" if (stab.get("stable") or {}).get(name) else "NOT stable"
            done = doc["engines"][name]["summary"]["steps_done"]
            parts.append(f"{label} stable, stopped at step {at}" if at is not None else
                         f"{label} {stable} after all {done} steps")
        lines.append("until stable: " + "; ".join(parts))
    st = doc["settings"]
    lines.append(f"settings: task {st['task']}, mode {st['mode']}, schedule {st['schedule']}"
                 f"{' (contended)' if st['schedule'] == 'parallel' else ''}, device {st['device']}, "
                 f"{st['threads']} thread(s) each, batch {st['batch_size']}, {st['isolation']}")
    return "\n".join(lines)


def _stable_cell(s: dict[str, Any]) -> str:
    """'yes (4%)' / 'NO (21%)': IQR/median against the 10 % limit."""
    if s.get("unstable") is None:
        return "-"
    med = s.get("median_step_s")
    rel = s.get("iqr_over_median")
    if rel is None and med:
        rel = (s.get("iqr_step_s") or 0.0) / med
    pct = f" ({rel:.0%})" if isinstance(rel, (int, float)) else ""
    return ("NO" if s["unstable"] else "yes") + pct


class Interrupted(Exception):
    """Ctrl-C during a run: the engines were stopped. `doc` is the interrupted comparison's
    (partial) results document."""

    def __init__(self, doc: dict[str, Any]):
        super().__init__("interrupted")
        self.doc = doc


def execute(comp: Comparison, out=None) -> tuple[dict[str, Any], bool]:
    """Run one comparison with progress lines; returns (results document, interrupted)."""
    out = out or sys.stdout
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
    return build_results(comp.state), interrupted


def _doc_ok(doc: dict[str, Any]) -> bool:
    if doc.get("kind") == "matrix":
        return all(_doc_ok(c) for c in doc["matrix"]["cells"])
    ok = all(e.get("status") == "done" for e in doc.get("engines", {}).values())
    # An infer run is two comparisons (batch 1 and the scenario's batch): both must be done.
    for per_engine in ((doc.get("inference") or {}).get("runs") or {}).values():
        ok = ok and all(r.get("status") == "done" for r in per_engine.values())
    return ok


def _describe(settings: RunSettings) -> str:
    return (f"{settings.steps} steps, batch {settings.batch_size}, {settings.task}, "
            f"{settings.mode}, {settings.schedule}")


def run_plan(scenario: Scenario, settings: RunSettings, engines: dict[str, str], *,
             telemetry: bool = True, until_stable: bool = False, repeat: int = 1,
             out=None) -> dict[str, Any]:
    """Run one measurement (one comparison; both batch sizes for infer; K repeats) and return
    its results document. Raises Interrupted on Ctrl-C."""
    out = out or sys.stdout

    def one(st: RunSettings, first: str | None = None, tag: str = "") -> dict[str, Any]:
        print(f"{tag}{_describe(st)}", file=out, flush=True)
        comp = Comparison(scenario, st, engines, telemetry=telemetry, first=first,
                          until_stable=until_stable)
        doc, interrupted = execute(comp, out)
        if interrupted:
            raise Interrupted(doc)
        return doc

    def measurement(first: str | None, tag: str) -> dict[str, Any]:
        if settings.task == "infer":
            docs = [one(st, first, f"{tag}[infer, batch {st.batch_size}] ")
                    for st in inference_settings(settings)]
            return merge_inference(docs, seed=settings.seed)
        return one(settings, first, tag)

    if repeat <= 1:
        return measurement(None, "")
    docs = []
    for r, order in enumerate(repeat_orders(list(engines), repeat)):
        docs.append(measurement(order[0], f"[repeat {r + 1}/{repeat}, "
                                          f"{ENGINE_LABELS.get(order[0], order[0])} first] "))
    return merge_repeats(docs, seed=settings.seed)


def run_matrix(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
               modes: tuple[str, ...], *, telemetry: bool = True, until_stable: bool = False,
               out=None) -> dict[str, Any]:
    """Every (task, mode) cell as its own comparison; returns the matrix document."""
    out = out or sys.stdout
    docs = []
    cells = matrix_cells(engines, modes)
    for i, cell in enumerate(cells):
        st = cell.settings(settings)
        who = ", ".join(ENGINE_LABELS.get(n, n) for n in cell.engines)
        print(f"[matrix {i + 1}/{len(cells)}: {cell.label} on {who}] {_describe(st)}", file=out,
              flush=True)
        comp = Comparison(scenario, st, cell.engines, telemetry=telemetry,
                          until_stable=until_stable)
        doc, interrupted = execute(comp, out)
        if interrupted:
            raise Interrupted(doc)
        docs.append(doc)
    return build_matrix_doc(docs, settings, engines)


def repeat_table(doc: dict[str, Any]) -> str:
    """Per-repeat medians, the ratio of each repeat, and their spread."""
    rep = doc.get("repeats") or {}
    names = list(doc.get("engines") or {})
    sp = (doc.get("comparison") or {}).get("speedup")
    head = ["repeat", "first", *(f"{ENGINE_LABELS.get(n, n)} median" for n in names)]
    if sp:
        head.append(f"{ENGINE_LABELS.get(sp['slower'], sp['slower'])}/"
                    f"{ENGINE_LABELS.get(sp['faster'], sp['faster'])}")
    rows = [tuple(head)]
    for r in rep.get("runs", []):
        first = (r.get("order") or ["?"])[0]
        cells = [str(r["repeat"] + 1), ENGINE_LABELS.get(first, first)]
        cells += [_fmt_s(r["median_step_s"].get(n)) for n in names]
        if sp:
            cells.append(f"{r['ratio']:.3f}" if r.get("ratio") else "-")
        rows.append(tuple(cells))
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for n, spread in (rep.get("median_spread") or {}).items():
        if spread.get("median"):
            lines.append(f"{ENGINE_LABELS.get(n, n)}: per-repeat medians "
                         f"{_fmt_s(spread['min'])}..{_fmt_s(spread['max'])} "
                         f"(spread {spread['rel_range']:.1%} of the median)")
    rs = rep.get("ratio_spread") or {}
    if rs.get("median"):
        lines.append(f"ratio across repeats: {rs['min']:.3f}..{rs['max']:.3f} "
                     f"(spread {rs['rel_range']:.1%})")
    return "\n".join(lines)


FAIRNESS_TABLE_KEYS = ("version", "device", "dtype", "threads", "mode", "tf32", "onednn", "xla",
                       "batch_size")


def fairness_text(doc: dict[str, Any]) -> str:
    """What each engine ran with (flagged '!' where the sides differ in something that changes
    speed), then the warnings. The full report, with the measures taken, is in the export."""
    fair = doc.get("fairness") or {}
    names = fair.get("engines") or []
    lines = []
    rows = [("", *(ENGINE_LABELS.get(n, n) for n in names))]
    for r in fair.get("rows", []):
        if r["key"] in FAIRNESS_TABLE_KEYS:
            flag = "! " if r["differs"] and r["affects_speed"] else "  "
            rows.append((flag + r["label"], *(r["values"].get(n, "?") for n in names)))
    if len(rows) > 1 and names:
        widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in rows]
    for w in fair.get("warnings", []):
        lines.append(f"{'WARNING' if w['level'] == 'warning' else 'note'}: {w['text']}")
    return "\n".join(lines)


def save(doc: dict[str, Any], out=None) -> None:
    """Save a finished run in the saved-runs folder; a failure is a warning, not an error."""
    out = out or sys.stdout
    try:
        path = save_run(doc, runs_dir())
    except OSError as err:
        print(f"warning: could not save the run in {runs_dir()}: {err}", file=sys.stderr)
        return
    print(f"saved as {path}", file=out)


def run_headless(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 export_path: str | None, telemetry: bool, out=None, *,
                 until_stable: bool = False, repeat: int = 1, matrix_modes: tuple[str, ...] = (),
                 save_runs: bool = True) -> int:
    out = out or sys.stdout
    what = "matrix" if matrix_modes else f"{settings.task}, {settings.mode}"
    print(f"Running {scenario.name!r} on {', '.join(ENGINE_LABELS.get(n, n) for n in engines)}: "
          f"{settings.steps} steps{' max (until stable)' if until_stable else ''}, batch "
          f"{settings.batch_size}, {what}, {settings.schedule}"
          f"{f', {repeat} repeats' if repeat > 1 else ''}", file=out, flush=True)
    try:
        if matrix_modes:
            doc = run_matrix(scenario, settings, engines, matrix_modes, telemetry=telemetry,
                             until_stable=until_stable, out=out)
        else:
            doc = run_plan(scenario, settings, engines, telemetry=telemetry,
                           until_stable=until_stable, repeat=repeat, out=out)
    except Interrupted as stop:
        # The interrupted comparison's partial results: shown and exported, never saved.
        print(summary_table(stop.doc), file=out, flush=True)
        if export_path:
            export_to(stop.doc, export_path, out, "partial results")
        return EXIT_INTERRUPTED
    if doc.get("kind") == "matrix":
        print(format_matrix(doc["matrix"]["rows"]), file=out, flush=True)
    else:
        print(summary_table(doc), file=out, flush=True)
        if doc.get("inference"):
            print(format_inference(doc), file=out)
        if doc.get("repeats"):
            print(repeat_table(doc), file=out)
        warnings = fairness_text(doc)
        if warnings:
            print(warnings, file=out)
    exported = export_to(doc, export_path, out) if export_path else True
    if save_runs:
        save(doc, out)
    return EXIT_OK if _doc_ok(doc) and exported else EXIT_ENGINE_FAILED


def print_runs(out=None) -> int:
    """--list-runs: the saved runs, newest first; skipped files as warnings on stderr."""
    out = out or sys.stdout
    directory = runs_dir()
    listing = list_runs(directory)
    for w in listing.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not listing.runs:
        print(f"no saved runs in {directory}", file=out)
        return EXIT_OK
    rows = [("started", "scenario", "task/mode", "device", "verdict", "file")]
    for r in listing.runs:
        rows.append((r.started_text, r.scenario,
                     "matrix" if r.kind == "matrix" else f"{r.task}/{r.mode}"
                     + (f" x{r.repeats}" if r.repeats else ""),
                     r.device, r.verdict, r.path.name))
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    for x in rows:
        print("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip(), file=out)
    print(f"({len(listing.runs)} runs in {directory})", file=out)
    return EXIT_OK


def compare_text(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> str:
    """--compare: two results documents side by side, as text."""
    cmp = compare_runs(a, b)
    lines = [f"A: {name_a}  ({cmp.title_a})", f"B: {name_b}  ({cmp.title_b})", ""]
    rows = [("", "A", "B", "")]
    section = None
    for r in cmp.rows:
        if r.section != section:
            rows.append((f"[{r.section}]", "", "", ""))
            section = r.section
        rows.append(("  " + r.label, r.a, r.b, ("* " if r.differs else "") + r.note))
    widths = [max(len(x[i]) for x in rows) for i in range(4)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in rows]
    for w in cmp.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def compare_files(path_a: str, path_b: str, out=None) -> int:
    out = out or sys.stdout
    try:
        a, b = load_run(path_a), load_run(path_b)
    except RunFileError as err:
        raise BadInput(f"--compare: {err}") from None
    print(compare_text(a, b, path_a, path_b), file=out)
    return EXIT_OK


def list_scenarios(scenarios: list[Scenario], problems: list[ScenarioError], out=None) -> None:
    out = out or sys.stdout
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
        if args.list_runs:
            return print_runs()
        if args.compare:
            return compare_files(*args.compare)
        if args.repeat < 1:
            raise BadInput(f"--repeat: expected a positive integer, got {args.repeat}")
        matrix_modes: tuple[str, ...] = ()
        if args.matrix:
            matrix_modes = tuple(m.strip() for m in args.matrix_modes.split(",") if m.strip())
            bad = [m for m in matrix_modes if m not in MODES]
            if bad or not matrix_modes:
                raise BadInput(f"--matrix-modes: expected some of {', '.join(MODES)}, got "
                               f"{args.matrix_modes!r}")
            if args.repeat > 1:
                raise BadInput("--matrix and --repeat cannot be combined")
            if "eager" not in matrix_modes:
                matrix_modes = ("eager", *matrix_modes)  # the baseline of "pays off after"
        if args.export:
            check_export_path(args.export)
        engines = engine_map(args)
        if args.no_tui or args.matrix:
            try:
                scenario = pick_scenario(args, scenarios)
            except ScenarioError as err:
                raise BadInput(str(err)) from None
            settings = make_settings(args, scenario)
            return run_headless(scenario, settings, engines, args.export,
                                telemetry=not args.no_telemetry, until_stable=args.until_stable,
                                repeat=args.repeat, matrix_modes=matrix_modes,
                                save_runs=not args.no_save)
        if args.until_stable or args.repeat > 1:
            raise BadInput("--until-stable and --repeat run headless: add --no-tui")
        from .launch import launch_app  # Textual is imported only here

        return launch_app(args, scenarios, problems, engines)
    except BadInput as err:
        print(f"fwcompare-tui: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def console_main() -> None:  # pragma: no cover - the console script
    # A shell without job control starts background commands with SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: restore it so Ctrl-C always stops a run.
    # SIGTERM gets the same graceful path (kill children, export what we have).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
