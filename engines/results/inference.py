"""Task 'infer': per-batch latency (p50/p90/p99) at batch size 1 and at the scenario's batch
size, throughput, and output parity (max |logits difference| on the same batch).

The caller runs one comparison per batch size (`inference_settings`), both engines taking turns
as usual, then merges the documents (`merge_inference`). Pure functions; no framework here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..settings import RunSettings
from ..stats import summarize
from .document import refresh_fairness
from .summary import doc_steady_times, doc_turn_medians
from .verdicts import speedup


def inference_batch_sizes(batch_size: int) -> list[int]:
    """Batch sizes to measure: 1 (latency) and the scenario's (throughput)."""
    return sorted({1, int(batch_size)})


def inference_settings(settings: RunSettings) -> list[RunSettings]:
    """One RunSettings per batch size, task 'infer'."""
    return [settings.with_(task="infer", batch_size=bs)
            for bs in inference_batch_sizes(settings.batch_size)]


def latency_summary(times: np.ndarray, batch_size: int) -> dict[str, Any]:
    """p50/p90/p99/mean latency per batch (s), throughput (samples/s, batches/s)."""
    s = summarize(times)
    if s is None:
        return {"batch_size": batch_size, "steady_steps": 0, "p50_s": None, "p90_s": None,
                "p99_s": None, "mean_s": None, "iqr_s": None, "samples_per_s": None,
                "batches_per_s": None, "unstable": None}
    return {"batch_size": batch_size, "steady_steps": s.n, "p50_s": s.median, "p90_s": s.p90,
            "p99_s": s.p99, "mean_s": s.mean, "iqr_s": s.iqr,
            "samples_per_s": batch_size / s.median if s.median > 0 else None,
            "batches_per_s": 1.0 / s.median if s.median > 0 else None,
            "unstable": s.unstable}


def merge_inference(docs: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """One document for an inference measurement at several batch sizes.

    The main body is the run at the largest batch size (the scenario's); `inference` adds,
    per batch size (keys are strings, as JSON needs): each engine's latency summary, the
    speed-up at that batch size, output parity, and each engine's status and stage times
    (under the export's key "phases_s").
    """
    if not docs:
        raise ValueError("no runs to merge")
    by_bs = {int(d["settings"]["batch_size"]): d for d in docs}
    main = dict(by_bs[max(by_bs)])
    latency: dict[str, Any] = {}
    speed: dict[str, Any] = {}
    parity: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    for bs, d in sorted(by_bs.items()):
        key = str(bs)
        times = {n: doc_steady_times(e) for n, e in d["engines"].items()}
        latency[key] = {n: latency_summary(t, bs) for n, t in times.items()}
        paired = (d.get("settings") or {}).get("schedule") == "alternate"
        turns = {n: doc_turn_medians(e) for n, e in d["engines"].items()} if paired else None
        speed[key] = speedup(times, seed=seed, turns=turns) if len(times) == 2 else None
        parity[key] = (d.get("comparison") or {}).get("output_parity")
        runs[key] = {n: {"status": e.get("status"), "error": e.get("error"),
                         "phases_s": e.get("phases_s", {}),
                         "steps_done": (e.get("summary") or {}).get("steps_done")}
                     for n, e in d["engines"].items()}
    known = [p for p in parity.values() if p]
    worst = max(known, key=lambda p: (p.get("within_tolerance") is False,
                                      p.get("max_rel_diff") or 0.0)) if known else None
    main["inference"] = {
        "batch_sizes": sorted(by_bs),
        "latency": latency,
        "speedup": speed,
        "output_parity": parity,
        "output_parity_worst": worst,
        "runs": runs,
        "note": "latency per batch, steady-state steps (first step and warm-up excluded); "
                "throughput = batch size / p50",
    }
    if worst is not None:
        main["comparison"] = {**(main.get("comparison") or {}), "output_parity": worst}
    return refresh_fairness(main)


@dataclass(frozen=True)
class InferenceRow:
    """One table row: engine at one batch size. Times in seconds; None where unknown."""

    batch_size: int
    engine: str
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    samples_per_s: float | None
    unstable: bool | None


def inference_rows(doc: dict[str, Any]) -> list[InferenceRow]:
    """Rows of the latency table of a merged inference document (empty if there is none)."""
    inf = doc.get("inference") or {}
    rows = []
    for key in sorted(inf.get("latency") or {}, key=int):
        for n, s in inf["latency"][key].items():
            rows.append(InferenceRow(int(key), n, s.get("p50_s"), s.get("p90_s"), s.get("p99_s"),
                                     s.get("samples_per_s"), s.get("unstable")))
    return rows
