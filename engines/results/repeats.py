"""--repeat K: the whole comparison K times, alternating which engine goes first, merged into
one results document with per-repeat medians and their spread.

Each repeat is an independent run (fresh engine processes), so the spread includes
process-to-process variation that one run's bootstrap cannot see. The merged speed-up is the
ratio of pooled medians with a two-level (repeats, then steps) bootstrap interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..pairing import MIN_PAIRS, pooled_paired_speedup
from ..stats import (
    LEVEL,
    N_BOOT,
    UNSTABLE_IQR_RATIO,
    hierarchical_bootstrap_ratio_ci,
    summarize,
)
from .document import SCHEMA, refresh_fairness
from .summary import doc_steady_times, doc_turn_medians, times_summary
from .verdicts import SPEEDUP_METHOD

_WORST = ("failed", "unavailable", "cancelled", "running", "pending", "done")


def repeat_orders(names: list[str], k: int) -> list[list[str]]:
    """Engine order of each repeat: rotate who goes first (A B, B A, A B, ...)."""
    if not names:
        return [[] for _ in range(k)]
    return [names[r % len(names):] + names[:r % len(names)] for r in range(k)]


def _worst(statuses: list[str]) -> str:
    for s in _WORST:
        if s in statuses:
            return s
    return statuses[0] if statuses else "?"


def _median_or_none(values: list[Any]) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(vals)) if vals else None


def _spread(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"min": None, "max": None, "median": None, "rel_range": None}
    med = float(np.median(vals))
    return {"min": float(min(vals)), "max": float(max(vals)), "median": med,
            "rel_range": (max(vals) - min(vals)) / med if med > 0 else None}


def merge_repeats(docs: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """One results document (schema 1) for K repeated runs of the same comparison.

    engines[*].steps: all repeats' steps, each with an added "repeat" index;
    engines[*].summary: pooled steady-state figures plus "per_repeat_median_s";
    engines[*].phases_s: the median over repeats of each lifecycle stage's time;
    comparison.speedup: pooled ratio of medians, ci95 from a hierarchical bootstrap, plus
    "per_repeat_ratio"; comparison.parity: the worst repeat's;
    repeats: {count, runs: [{repeat, order, median_step_s, ratio, ...}], ratio_spread, ...}.
    """
    if not docs:
        raise ValueError("no runs to merge")
    first = docs[0]
    names = list(first.get("engines") or {})
    settings = first.get("settings") or {}
    bs = settings.get("batch_size") or 1
    k = len(docs)
    engines: dict[str, Any] = {}
    per_repeat: dict[str, list[np.ndarray]] = {}
    for n in names:
        blocks = [d["engines"].get(n) or {} for d in docs]
        steps: list[dict[str, Any]] = []
        for r, b in enumerate(blocks):
            steps.extend({**s, "repeat": r} for s in b.get("steps") or [])
        per_repeat[n] = [doc_steady_times(b) for b in blocks]
        pooled = np.concatenate(per_repeat[n]) if per_repeat[n] else np.zeros(0)
        summary = times_summary(pooled, bs)
        medians = [float(np.median(t)) if t.size else None for t in per_repeat[n]]
        summary.update({
            "final_loss": (blocks[-1].get("summary") or {}).get("final_loss"),
            "steps_done": sum((b.get("summary") or {}).get("steps_done") or 0 for b in blocks),
            "per_repeat_median_s": medians,
            "per_repeat_spread": _spread(medians),
        })
        stage_keys = list(dict.fromkeys(k_ for b in blocks for k_ in (b.get("phases_s") or {})))
        memory: dict[str, Any] = {}
        for b in blocks:
            for key, v in (b.get("memory") or {}).items():
                if isinstance(v, (int, float)):
                    memory[key] = max(v, memory.get(key) or 0)
        errors = [b.get("error") for b in blocks if b.get("error")]
        engines[n] = {
            "status": _worst([b.get("status", "?") for b in blocks]),
            "error": errors[0] if errors else None,
            "implementation": blocks[0].get("implementation", n),
            "phases_s": {k: _median_or_none([(b.get("phases_s") or {}).get(k) for b in blocks])
                         for k in stage_keys},
            "versions": blocks[0].get("versions", {}),
            "config": blocks[0].get("config", {}),
            "memory": memory,
            "steps": steps,
            "summary": summary,
        }

    comparison: dict[str, Any] = {}
    parities = [(d.get("comparison") or {}).get("parity") for d in docs]
    parities = [p for p in parities if p and p.get("steps_compared")]
    if parities:
        worst = max(parities, key=lambda p: (p.get("within_tolerance") is False,
                                             p.get("max_rel_loss_diff") or 0.0))
        comparison["parity"] = {**worst, "repeats_within_tolerance":
                                [p.get("within_tolerance") for p in parities]}
    runs = []
    speed = None
    if len(names) == 2:
        speed = pooled_paired(docs, names) or pooled_speedup(per_repeat, seed=seed)
        if speed:
            comparison["speedup"] = speed
    for r, d in enumerate(docs):
        med = {n: (float(np.median(per_repeat[n][r])) if per_repeat[n][r].size else None)
               for n in names}
        ratio = None
        own = (d.get("comparison") or {}).get("speedup") or {}
        if speed and own.get("paired") and own.get("faster") in names:
            # This repeat's own paired estimate, seen from the pooled verdict's side.
            ratio = own["ratio"] if own["faster"] == speed["faster"] else 1 / own["ratio"]
        elif speed and med.get(speed["slower"]) and med.get(speed["faster"]):
            ratio = med[speed["slower"]] / med[speed["faster"]]
        runs.append({
            "repeat": r, "order": d.get("order") or names, "median_step_s": med,
            "ratio": ratio, "speedup": (d.get("comparison") or {}).get("speedup"),
            "stable": ((d.get("comparison") or {}).get("stability") or {}).get("stable"),
            "started": d.get("started"),
            # --task infer: each repeat's latency block (batch 1 and the scenario's batch)
            "inference": d.get("inference"),
        })
    ratio_spread = _spread([r["ratio"] for r in runs])
    if speed:
        speed["per_repeat_ratio"] = [r["ratio"] for r in runs]
        speed["unstable"] = bool(speed["unstable"] or (ratio_spread["rel_range"] or 0.0)
                                 > UNSTABLE_IQR_RATIO)
    comparison["stability"] = {
        "threshold_iqr_over_median": UNSTABLE_IQR_RATIO,
        "stable": {n: (None if e["summary"]["unstable"] is None else not e["summary"]["unstable"])
                   for n, e in engines.items()},
        "until_stable": any(((d.get("comparison") or {}).get("stability") or {}).get(
            "until_stable") for d in docs),
    }
    samples = []
    for r, d in enumerate(docs):
        samples.extend({**s, "repeat": r} for s in (d.get("telemetry") or {}).get("samples", []))
    doc = {
        "schema": SCHEMA,
        "kind": "run",
        "scenario": first.get("scenario", {}),
        "settings": settings,
        "environment": first.get("environment", {}),
        "engines": engines,
        "comparison": comparison,
        "telemetry": {"gpu_status": (first.get("telemetry") or {}).get("gpu_status"),
                      "samples": samples},
        "started": first.get("started"),
        "repeats": {
            "count": k, "runs": runs, "ratio_spread": ratio_spread,
            "median_spread": {n: engines[n]["summary"]["per_repeat_spread"] for n in names},
        },
    }
    return refresh_fairness(doc)


def pooled_speedup(per_repeat: dict[str, list[np.ndarray]], seed: int = 0,
                   n_boot: int = N_BOOT) -> dict[str, Any] | None:
    """Speed-up from repeated runs: ratio of pooled medians (>= 1) and a two-level bootstrap
    95 % interval (repeats resampled, then steps inside each)."""
    if len(per_repeat) != 2:
        return None
    (na, ra), (nb, rb) = per_repeat.items()
    keep = [i for i in range(min(len(ra), len(rb))) if ra[i].size and rb[i].size]
    if not keep:
        return None
    ra, rb = [ra[i] for i in keep], [rb[i] for i in keep]
    sa, sb = summarize(np.concatenate(ra)), summarize(np.concatenate(rb))
    if sa is None or sb is None or sa.median <= 0 or sb.median <= 0:
        return None
    if sa.median <= sb.median:
        fast, slow, rf, rs, ratio = na, nb, ra, rb, sb.median / sa.median
    else:
        fast, slow, rf, rs, ratio = nb, na, rb, ra, sa.median / sb.median
    low, high = hierarchical_bootstrap_ratio_ci(rs, rf, seed=seed, n_boot=n_boot)
    return {"faster": fast, "slower": slow, "ratio": float(ratio), "ci95": [low, high],
            "unstable": bool(sa.unstable or sb.unstable), "significant": bool(low > 1.0),
            "medians_s": {na: sa.median, nb: sb.median}, "samples": {na: sa.n, nb: sb.n},
            "level": LEVEL, "n_boot": n_boot, "repeats": len(keep),
            "method": SPEEDUP_METHOD.replace("each engine's steps resampled independently",
                                             "two-level: repeats (paired), then steps")}


def pooled_paired(docs: list[dict[str, Any]], names: list[str]) -> dict[str, Any] | None:
    """The speed-up over repeats measured in paired turns: each repeat's mean log pair ratio
    is one unit, a t interval over the repeats (engines.pairing.pooled_paired_speedup), so
    the interval includes how much whole runs differ. None unless every repeat was paired
    with at least MIN_PAIRS pairs."""
    na, nb = names
    per_run, pairs = [], 0
    for d in docs:
        if (d.get("settings") or {}).get("schedule") != "alternate":
            return None
        ta = doc_turn_medians((d.get("engines") or {}).get(na) or {})
        tb = doc_turn_medians((d.get("engines") or {}).get(nb) or {})
        common = sorted(k for k in set(ta) & set(tb) if ta[k] > 0 and tb[k] > 0)
        if len(common) < MIN_PAIRS:
            return None
        per_run.append([math.log(tb[k] / ta[k]) for k in common])
        pairs += len(common)
    out = pooled_paired_speedup(per_run, (na, nb))
    if out is None:
        return None
    times = {n: np.concatenate([doc_steady_times((d.get("engines") or {}).get(n) or {})
                                for d in docs]) for n in names}
    sums = {n: summarize(t) for n, t in times.items()}
    lo, hi = out["ci95"] if out["ci95"] else (None, None)
    doubts = []
    if lo is None:
        doubts.append("one repeat gives no interval over repeats")
    elif lo <= 1.0:
        doubts.append(f"the 95 % interval ({lo:.2f}-{hi:.2f}) includes 1: no clear difference")
    out.update({
        "ci95": [lo, hi] if lo is not None else [out["ratio"], out["ratio"]],
        "paired": True, "pairs": pairs, "repeats": len(docs), "doubts": doubts,
        "significant": bool(lo is not None and lo > 1.0),
        "half_width": math.sqrt(hi / lo) - 1.0 if lo else None,
        "medians_s": {n: (sm.median if sm else None) for n, sm in sums.items()},
        "samples": {n: (sm.n if sm else 0) for n, sm in sums.items()},
        "unstable": any(sm is None or sm.unstable for sm in sums.values()), "level": LEVEL,
    })
    return out


def repeat_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for a per-repeat table: repeat, order, each engine's median (s), ratio."""
    rep = doc.get("repeats") or {}
    return [{"repeat": r["repeat"] + 1, "first": (r.get("order") or ["?"])[0],
             "median_step_s": r.get("median_step_s") or {}, "ratio": r.get("ratio")}
            for r in rep.get("runs", [])]
