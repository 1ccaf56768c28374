"""Steady-state figures of an engine: the timing part of its block in the results document."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..pairing import turn_medians
from ..run.state import EngineState
from ..stats import UNSTABLE_IQR_RATIO, outlier_mask, summarize


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def times_summary(steady: np.ndarray, batch_size: int) -> dict[str, Any]:
    """Steady-state figures of a set of step times (the timing part of an engine summary)."""
    s = summarize(steady)
    if s is None:
        return {"median_step_s": None, "iqr_step_s": None, "samples_per_s": None,
                "steady_steps": 0, "unstable": None}
    return {
        "median_step_s": s.median,
        "iqr_step_s": s.iqr,
        "samples_per_s": batch_size / s.median if s.median > 0 else None,
        "steady_steps": s.n,
        "unstable": s.unstable,
        # Added fields (schema 1 stays backward compatible):
        "q1_step_s": s.q1,
        "q3_step_s": s.q3,
        "p50_step_s": s.median,
        "p90_step_s": s.p90,
        "p99_step_s": s.p99,
        "mean_step_s": s.mean,
        "iqr_over_median": _clean(s.rel_iqr),
        "unstable_threshold": UNSTABLE_IQR_RATIO,
        "outlier_steps": int(outlier_mask(steady).sum()),
    }


def engine_summary(es: EngineState, batch_size: int) -> dict[str, Any]:
    """Steady-state figures of one engine."""
    final = es.losses[-1] if len(es.losses) else None
    out = times_summary(es.steady_times(), batch_size)
    out["final_loss"] = _clean(final) if final is not None else None
    out["steps_done"] = es.steps_done
    return out


def doc_steady_times(engine_doc: dict[str, Any], repeat: int | None = None) -> np.ndarray:
    """Steady-state step times of one engine's block in a results document.

    With `repeat`, only the steps of that repeat (documents merged from --repeat runs).
    """
    steps = engine_doc.get("steps") or []
    return np.array([s["time_s"] for s in steps if s.get("phase") == "steady"
                     and (repeat is None or s.get("repeat", 0) == repeat)], dtype=np.float64)


def doc_turn_medians(engine_doc: dict[str, Any], repeat: int | None = None) -> dict[int, float]:
    """Median steady step time of each turn of one engine's block in a results document
    (steps without a turn number, from documents older than paired turns, are left out)."""
    steps = [s for s in engine_doc.get("steps") or []
             if isinstance(s.get("turn"), int)
             and (repeat is None or s.get("repeat", 0) == repeat)]
    if not steps:
        return {}
    return turn_medians(np.array([s["time_s"] for s in steps], dtype=np.float64),
                        np.array([s.get("phase") == "steady" for s in steps], dtype=bool),
                        np.array([s["turn"] for s in steps], dtype=np.int64))

