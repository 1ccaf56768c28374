"""The results JSON (schema 1): build it from a RunState and write it atomically."""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from scenarios import ScenarioError

from ..efficiency import datasheet_peak, efficiency_block, run_flops_per_step
from ..pipelines.feed import input_block
from ..run.state import PHASES, EngineState, RunState
from ..stats import UNSTABLE_IQR_RATIO, outlier_mask
from .fairness import fairness_report
from .summary import _clean, engine_summary
from .verdicts import (
    evaluation_parity,
    output_parity,
    parity,
    speedup,
    trains_with_dropout,
)

SCHEMA = 1


# Measurements an engine's session reports inside its config (engines.hosting.session); the
# export gives them blocks of their own.
MEASUREMENT_KEYS = ("peak", "energy")
NOT_REPORTED = "not reported (the engine ended before it was built)"


def engine_result(es: EngineState, batch_size: int, flops: int | None = None,
                  precision: str = "fp32", evaluates: bool = False,
                  pipeline: str = "memory") -> dict[str, Any]:
    """One engine's block of the export. `flops`: FLOPs per step of the run (its efficiency
    block is computed from them and the median step time); `evaluates`: with its
    `evaluations` (the scenario has [train] eval_every), each {step, loss, accuracy, time_s}."""
    times = np.frombuffer(es.times, dtype=np.float64) if len(es.times) else np.zeros(0)
    codes = list(es.phase_codes)
    steady = np.array([PHASES[c] == "steady" for c in codes], dtype=bool)
    outliers = np.zeros(len(codes), dtype=bool)
    if steady.any():
        outliers[steady] = outlier_mask(times[steady])
    steps = []
    for i, (loss, t, code, turn) in enumerate(zip(es.losses, es.times, codes, es.turns)):
        rec = {"step": i, "phase": PHASES[code], "loss": _clean(loss), "time_s": t,
               "turn": turn}
        if outliers[i]:
            rec["outlier"] = True
        steps.append(rec)
    report = es.report.to_dict()  # phases_s (the stage times), versions, config, memory
    config = dict(report["config"])
    peak, energy = (config.pop(k, None) for k in MEASUREMENT_KEYS)
    distributed = config.pop("distributed", None)  # data-parallel replicas' own block
    measured_input = config.pop("input", None)
    report["config"] = config
    summary = engine_summary(es, batch_size)
    datasheet = datasheet_peak(config.get("gpu_name"), precision)
    block = {
        "status": es.status,  # pending | running in an export made mid-run
        "error": es.error,
        "implementation": es.impl,
        **report,
        "steps": steps,
        "summary": summary,
        "efficiency": efficiency_block(flops, summary["median_step_s"],
                                       peak or {"reason": NOT_REPORTED}, datasheet),
        "energy": energy or {"source": None, "reason": NOT_REPORTED},
    }
    if distributed is not None:
        block["distributed"] = distributed
    if evaluates:
        block["evaluations"] = [{**ev.to_dict(), "loss": _clean(ev.loss)}
                                for ev in es.evaluations]
    if pipeline != "memory":  # an input pipeline fed the steps: what it cost them
        block["input"] = input_block(measured_input, es.input_wait_share(),
                                     es.input_compute_median(), batch_size)
    return block


def add_best_peak_share(engines: dict[str, dict[str, Any]]) -> None:
    """Each engine's share of the best matmul peak any engine of the run measured: the
    frameworks' own matmul libraries differ (a low peak is a finding, not a free pass)."""
    peaks = {n: e["efficiency"]["peak_flops"] for n, e in engines.items()
             if e["efficiency"]["peak_flops"]}
    if not peaks:
        return
    best = max(peaks, key=peaks.__getitem__)
    for e in engines.values():
        eff = e["efficiency"]
        achieved = eff["achieved_flops"]
        eff["best_peak_flops"] = peaks[best]
        eff["best_peak_engine"] = best
        eff["share_of_best_peak"] = achieved / peaks[best] if achieved else None


def run_flops(state: RunState) -> int | None:
    """FLOPs per step of the run's scenario at its batch size and task, or None."""
    try:
        return run_flops_per_step(state.scenario, state.settings.batch_size,
                                  state.settings.task)
    except (ScenarioError, ValueError, KeyError):
        return None


def build_results(state: RunState) -> dict[str, Any]:
    """The whole export document for a run (finished or not)."""
    with state.lock:
        settings = state.settings
        evaluates = state.scenario.train.eval_every is not None
        flops = run_flops(state)
        engines = {n: engine_result(es, settings.batch_size, flops, settings.precision,
                                    evaluates, settings.input_pipeline)
                   for n, es in state.engines.items()}
        add_best_peak_share(engines)
        comparison: dict[str, Any] = {}
        names = list(state.engines)
        statistical = trains_with_dropout(state.scenario, settings.task)
        if len(names) == 2:
            a, b = (state.engines[n] for n in names)
            optimizer = state.scenario.train.optimizer
            comparison["parity"] = parity(np.array(a.losses), np.array(b.losses), optimizer,
                                          settings.task, settings.precision,
                                          statistical=statistical)
            if evaluates:
                comparison["evaluation_parity"] = evaluation_parity(
                    a.evaluations, b.evaluations, optimizer, settings.task,
                    statistical=statistical, precision=settings.precision)
            paired = settings.schedule == "alternate"
            rule = state.until_confident
            comparison["speedup"] = speedup(
                {n: state.engines[n].steady_times() for n in names}, seed=settings.seed,
                turns={n: state.engines[n].turn_medians() for n in names} if paired else None,
                **({"confidence_pct": rule.pct} if rule is not None else {}))
            if comparison["speedup"] is not None:
                comparison["speedup"]["until_confident"] = \
                    rule.to_dict() if rule is not None else None
                # This machine's calibration figures, when the caller knows them (finish_run).
                comparison["speedup"]["calibration"] = None
            outputs = {n: state.engines[n].outputs for n in names}
            if any(o is not None for o in outputs.values()):
                comparison["output_parity"] = output_parity(outputs, settings.batch_size,
                                                            precision=settings.precision)
        # Per-engine spread (IQR/median against 10 %): information, kept for readers of
        # schema 1; whether the verdict is in doubt is comparison.speedup.doubts.
        comparison["stability"] = {
            "threshold_iqr_over_median": UNSTABLE_IQR_RATIO,
            "stable": {n: (None if e["summary"]["unstable"] is None
                           else not e["summary"]["unstable"]) for n, e in engines.items()},
            "until_stable": False,
        }
        doc = {
            "schema": SCHEMA,
            "kind": "run",
            "scenario": state.scenario.to_dict(),
            "settings": settings.to_dict(),
            "environment": state.environment,
            "engines": engines,
            "comparison": comparison,
            "telemetry": {"gpu_status": state.gpu_status, "samples": list(state.telemetry)},
            "started": state.started_wall,
        }
        if state.order:
            doc["order"] = list(state.order)
        if settings.loader_sweep:  # --loader-sweep: the loader alone at 0..K workers
            doc["loader_sweep"] = {n: e.get("input", {}).pop("sweep", None)
                                   for n, e in engines.items()}
    doc["fairness"] = fairness_report(doc).to_dict()
    return doc


_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """`value` as strict JSON can hold it: NaN and infinity (numpy's too) become null, numpy
    scalars and arrays plain numbers and lists. What needs no change is returned as it is; the
    caller's containers are never changed (those with a change inside are copied)."""
    on_path: set[int] = set()  # containers being walked: a cycle is refused, as json.dump does

    def clean(x: Any) -> Any:
        t = type(x)
        # The common cases first, by exact type: a long run has a million of these.
        if t in _PLAIN or (t is float and x - x == 0.0):  # x - x is NaN for inf and NaN
            return x
        if isinstance(x, (dict, list, tuple)):
            if id(x) in on_path:
                raise ValueError("Circular reference detected")
            on_path.add(id(x))
            try:
                if isinstance(x, dict):
                    changed = {k: c for k, v in x.items() if (c := clean(v)) is not v}
                    return {**x, **changed} if changed else x
                out = [clean(v) for v in x]
                return x if all(a is b for a, b in zip(out, x)) else out
            finally:
                on_path.discard(id(x))
        if isinstance(x, float):  # NaN, infinity, or a float subclass (np.float64)
            return float(x) if math.isfinite(x) else None
        if isinstance(x, np.generic):  # np.float32, np.int64, np.bool_
            return clean(x.item())
        if isinstance(x, np.ndarray):
            return clean(x.tolist())
        return x  # str/int subclasses are written as they are; json.dump refuses the rest

    return clean(value)


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically: a new file next to it (created 0666 & ~umask, like
    mkstemp but not private), fsynced, then renamed over it, so a failed write never leaves
    half a file or destroys the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_json(doc: dict[str, Any], path: str | Path) -> Path:
    """Write `doc` to `path` atomically (write_text_atomically); NaN and infinity anywhere are
    written as null (json_safe), the caller's document is left as it is."""
    return write_text_atomically(path, json.dumps(json_safe(doc), indent=1, allow_nan=False))


def export(state: RunState, path: str | Path) -> Path:
    """Build and atomically write the results of `state`."""
    return write_json(build_results(state), path)


def refresh_fairness(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute doc['fairness'] after a document was assembled or merged; returns doc."""
    doc["fairness"] = fairness_report(doc).to_dict()
    return doc
