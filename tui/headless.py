"""The headless run (--no-tui, --matrix): progress lines, then the reports. No Textual.

`run_headless` runs what the Options ask for (one comparison, both batch sizes of an infer run,
K repeats, or every cell of the matrix), prints the text reports, and ends the run the way the
app does (`engines.results.finish.finish_run`: export, then save). Ctrl-C stops the engines;
the partial results are still printed and exported, never saved (unless the export fails:
tui.run_end keeps them). Everything is printed through tui.terminal.say.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from engines import Comparison, RunState
from engines.distributed.report import replica_line
from engines.distributed.scaling import scaled_settings, scaling_document, scaling_lines
from engines.registry import engine_label
from engines.results.calibration import load_calibration
from engines.results.document import build_results
from engines.results.finish import RunEnd, finish_run
from engines.results.inference import inference_settings, merge_inference
from engines.results.matrix import build_matrix_doc, matrix_cells
from engines.results.repeats import merge_repeats, repeat_orders
from engines.run.watchdog import DEFAULT_STALL_TIMEOUT_S
from engines.settings import RunSettings
from scenarios import Scenario

from .input_report import input_lines
from .interrupts import interrupts_held
from .options import EXIT_ENGINE_FAILED, EXIT_INTERRUPTED, EXIT_OK, Options
from .paths import calibration_file
from .reports import fairness_text, inference_table, matrix_table, repeat_table, summary_table
from .run_end import export_failure, why
from .terminal import say, terminal_width


class Interrupted(Exception):
    """Ctrl-C during a run: the engines were stopped. `doc` is the interrupted comparison's
    (partial) results document."""

    def __init__(self, doc: dict[str, Any]):
        super().__init__("interrupted")
        self.doc = doc


def progress_line(state: RunState) -> str:
    """One line of progress: each engine's lifecycle, steps done and latest loss."""
    parts = []
    with state.lock:
        for es in state.engines.values():
            loss = f" loss {es.losses[-1]:.4g}" if len(es.losses) else ""
            total = state.settings.steps
            # Paired turns take the faster engine past the run's steps while the other needs
            # them: say so rather than "835/300".
            done = f"{es.steps_done} ({total}+, paired)" if es.steps_done > total else \
                f"{es.steps_done}/{total}"
            parts.append(f"{es.label}: {es.stage} {done}{loss}")
    return " | ".join(parts)


def execute(comp: Comparison, out: TextIO) -> tuple[dict[str, Any], bool]:
    """Run one comparison with progress lines; returns (results document, interrupted).

    On Ctrl-C (or SIGTERM) the engines are stopped and every one gets its final status before
    the document is built; a second Ctrl-C meanwhile is noted, not raised."""
    tty = out.isatty()
    last = [0.0]

    def poll() -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if tty else 2.0):
            return
        last[0] = now
        line = progress_line(comp.state)
        if tty:
            say(line[: terminal_width(out) - 1], out, end="", flush=True, raw="\r\033[K")
        else:
            say(line, out, flush=True)

    interrupted = False
    try:
        comp.start()
        comp.wait(poll=poll)
    except KeyboardInterrupt:
        interrupted = True
        with interrupts_held():
            say("\ninterrupted: stopping both engines...", out, flush=True)
            comp.cancel()
            comp.wait(timeout=2.0)
    if tty:
        say("", out, end="", raw="\r\033[K")
    with interrupts_held():
        return build_results(comp.state), interrupted


def _describe(settings: RunSettings) -> str:
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    fed = "" if settings.input_pipeline == "memory" else \
        f", input {settings.input_pipeline} (loader workers {settings.loader_workers})"
    return (f"{settings.steps} steps, batch {settings.batch_size}, {settings.task}, "
            f"{settings.mode}, {settings.schedule}{workers}{fed}")


def _run_one(comp: Comparison, out: TextIO) -> dict[str, Any]:
    doc, interrupted = execute(comp, out)
    if interrupted:
        raise Interrupted(doc)
    return doc


def run_plan(scenario: Scenario, settings: RunSettings, engines: dict[str, str], *,
             telemetry: bool, until_confident: float | None, repeat: int,
             out: TextIO, stall_timeout: float = DEFAULT_STALL_TIMEOUT_S) -> dict[str, Any]:
    """Run one measurement (one comparison; both batch sizes for infer; K repeats) and return
    its results document. Raises Interrupted on Ctrl-C."""

    def one(st: RunSettings, first: str | None = None, tag: str = "") -> dict[str, Any]:
        say(f"{tag}{_describe(st)}", out, flush=True)
        return _run_one(Comparison(scenario, st, engines, telemetry=telemetry, first=first,
                                   until_confident=until_confident,
                                   stall_timeout=stall_timeout), out)

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
                                          f"{engine_label(order[0])} first] "))
    return merge_repeats(docs, seed=settings.seed)


def run_matrix(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
               modes: tuple[str, ...], *, telemetry: bool, until_confident: float | None,
               out: TextIO, stall_timeout: float = DEFAULT_STALL_TIMEOUT_S) -> dict[str, Any]:
    """Every (task, mode) cell as its own comparison; returns the matrix document."""
    docs = []
    cells = matrix_cells(engines, modes)
    for i, cell in enumerate(cells):
        st = cell.settings(settings)
        who = ", ".join(engine_label(n) for n in cell.engines)
        say(f"[matrix {i + 1}/{len(cells)}: {cell.label} on {who}] {_describe(st)}", out,
            flush=True)
        docs.append(_run_one(Comparison(scenario, st, cell.engines, telemetry=telemetry,
                                        until_confident=until_confident,
                                   stall_timeout=stall_timeout), out))
    return build_matrix_doc(docs, settings, engines)


def run_scaling(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                counts: tuple[int, ...], *, telemetry: bool, until_confident: float | None,
                out: TextIO, stall_timeout: float = DEFAULT_STALL_TIMEOUT_S) -> dict[str, Any]:
    """--scaling: one comparison at each worker count; the largest's document with the
    `scaling` block (engines.distributed.scaling). Raises Interrupted on Ctrl-C."""
    docs = {}
    for i, n in enumerate(counts):
        st = scaled_settings(settings, n)
        say(f"[scaling {i + 1}/{len(counts)}: {n} worker(s)] {_describe(st)}", out, flush=True)
        docs[n] = _run_one(Comparison(scenario, st, engines, telemetry=telemetry,
                                      until_confident=until_confident,
                                      stall_timeout=stall_timeout), out)
    return scaling_document(docs, settings.scale_batch)


def reports(doc: dict[str, Any]) -> list[str]:
    """The text reports of a finished measurement, in the order they are printed."""
    if doc.get("kind") == "matrix":
        return [matrix_table(doc["matrix"]["rows"])]
    texts = [summary_table(doc)]
    replicas = [f"{engine_label(n)}: {line}" for n, e in (doc.get("engines") or {}).items()
                if (line := replica_line(e.get("distributed")))]
    if replicas:
        texts.append("\n".join(replicas))
    if doc.get("scaling"):
        texts.append("\n".join(scaling_lines(doc["scaling"], engine_label)))
    if doc.get("inference"):
        texts.append(inference_table(doc))
    if doc.get("repeats"):
        texts.append(repeat_table(doc))
    inputs = input_lines(doc)
    if inputs:
        texts.append("\n".join(inputs))
    warnings = fairness_text(doc)
    return texts + [warnings] if warnings else texts


def run_headless(options: Options, out: TextIO | None = None) -> int:
    """Run, print the reports, export and save; returns the exit code."""
    out = out or sys.stdout
    scenario, settings, engines = options.scenario, options.settings, options.engines
    assert scenario is not None and settings is not None
    what = "matrix" if options.matrix_modes else f"{settings.task}, {settings.mode}"
    until = "" if options.until_confident is None else \
        f" max (until the speed-up is within +-{options.until_confident:g} %)"
    say(f"Running {scenario.name!r} on {', '.join(engine_label(n) for n in engines)}: "
        f"{settings.steps} steps{until}, batch "
        f"{settings.batch_size}, {what}, {settings.schedule}"
        f"{f', {options.repeat} repeats' if options.repeat > 1 else ''}", out, flush=True)
    common = dict(telemetry=options.telemetry, until_confident=options.until_confident,
                  out=out, stall_timeout=options.stall_timeout)
    try:
        if options.matrix_modes:
            doc = run_matrix(scenario, settings, engines, options.matrix_modes, **common)
        elif options.scaling:
            doc = run_scaling(scenario, settings, engines, options.scaling, **common)
        else:
            doc = run_plan(scenario, settings, engines, repeat=options.repeat, **common)
    except Interrupted as stop:
        # The interrupted comparison's partial results: shown and exported, never saved.
        with interrupts_held():
            say(summary_table(stop.doc), out, flush=True)
            _tell(finish_run(stop.doc, export_path=options.export), options, out,
                  "partial results")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # between two comparisons: none of them is going on
        say("\ninterrupted", out, flush=True)
        return EXIT_INTERRUPTED
    with interrupts_held() as came:  # the run is over: its results are written whole
        for text in reports(doc):
            say(text, out, flush=True)
        end = finish_run(doc, export_path=options.export,
                         calibration=load_calibration(calibration_file()),
                         runs_folder=options.runs_folder if options.save_runs else None)
        _tell(end, options, out)
    if came:
        return EXIT_INTERRUPTED
    return EXIT_OK if end.ok else EXIT_ENGINE_FAILED


def _tell(end: RunEnd, options: Options, out: TextIO, what: str = "results") -> None:
    """Where the results went; a failed write is a message on stderr (naming where the
    results were kept instead), not a traceback."""
    if options.export is not None:
        failure = export_failure(end, options.export, options.runs_folder)
        if failure is not None:
            say(f"fwcompare-tui: error: {failure}", sys.stderr)
        else:
            say(f"{what} written to {options.export}", out)
    if end.save_error is not None:
        say(f"warning: could not save the run in {options.runs_folder}: {why(end.save_error)}",
            sys.stderr)
    elif end.saved is not None:
        say(f"saved as {end.saved}", out)
