"""Verdicts across engines: loss parity and the speed-up with its confidence interval."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..stats import LEVEL, N_BOOT, bootstrap_ratio_ci, summarize

# Loss parity is judged twice. Over the first EARLY_STEPS steps the two engines must agree to
# float32 round-off: that proves they do the same work (same weights, batches, optimiser); a
# transposed kernel or a wrong learning rate shows here at 1e-3 or more. Over a whole run,
# training amplifies round-off (measured, SGD: cnn 8e-3 after 200 steps, mlp 2e-7 after 300),
# so the drift tolerance is looser. Adam turns near-zero gradients into full-size steps and
# Keras/torch place its epsilon differently, so it drifts faster (measured over 50 steps:
# regression 5e-5, mlp 5e-4, lstm 1.2e-3, cnn 7e-2).
EARLY_STEPS = 50
EARLY_TOLERANCE = {"sgd": 1e-4, "momentum": 1e-4, "adam": 1e-1}
PARITY_TOLERANCE = {"sgd": 2e-2, "momentum": 2e-2, "adam": 2e-1}
INFER_TOLERANCE = 1e-4  # forward passes only: nothing accumulates

# In 16-bit precision the engines round differently (bfloat16 keeps 8 significant bits: one
# rounding is up to 4e-3), so parity cannot be float32's 1e-4. Measured on the CPU built-ins,
# bf16, SGD, max relative loss difference, eager / compiled (AMD EPYC with avx512_bf16,
# torch 2.13, TF 2.21, one thread each):
#   first 50 steps: mlp 5.4e-4 / 3.0e-4, cnn 9.5e-4 / 1.5e-3, lstm 4.1e-3 / 1.7e-3,
#                   regression 7.1e-3 / 7.3e-3;
#   whole run:      mlp 2.7e-3 / 1.8e-3 (300 steps), cnn 1.2e-2 / 6.5e-3 (200),
#                   lstm 2.8e-2 / 3.2e-2 (200), regression 1.2e-2 / 1.5e-2 (500).
# The bounds are about 3x the worst of these. fp16 and tf32 round 8x finer than bfloat16
# (10 stored mantissa bits against 7) but have not been measured here (they need a GPU): they
# keep bf16's bounds, which are loose for them, until they are. Adam's own looser bounds
# stay where they are looser still.
PRECISION_TOLERANCE = {  # precision -> (first EARLY_STEPS steps, whole run)
    "fp32": (None, None),  # the optimizer's bounds above
    "bf16": (2e-2, 1e-1),
    "fp16": (2e-2, 1e-1),
    "tf32": (2e-2, 1e-1),
}
# Forward passes in 16 bits, the loss of each batch (bf16 eager measured, 60 batches: lstm
# 2.2e-4; mlp, cnn and regression 2.3e-6 or less).
INFER_PRECISION_TOLERANCE = {"fp32": INFER_TOLERANCE, "bf16": 1e-3, "fp16": 1e-3,
                             "tf32": 1e-3}


def tolerances(optimizer: str, task: str = "train",
               precision: str = "fp32") -> tuple[float, float]:
    """(early-window tolerance, whole-run tolerance) of loss parity for a run."""
    if task == "infer":
        tol = INFER_PRECISION_TOLERANCE.get(precision, INFER_TOLERANCE)
        return tol, tol
    early = EARLY_TOLERANCE.get(optimizer, 1e-4)
    drift = PARITY_TOLERANCE.get(optimizer, 2e-2)
    p_early, p_drift = PRECISION_TOLERANCE.get(precision, (None, None))
    return max(early, p_early or 0.0), max(drift, p_drift or 0.0)


def parity(losses_a: np.ndarray, losses_b: np.ndarray, optimizer: str,
           task: str = "train", precision: str = "fp32") -> dict[str, Any]:
    """Compare two loss curves over the steps both have done (early window and whole run),
    against the bounds of the run's optimizer, task and precision."""
    n = min(len(losses_a), len(losses_b))
    early_tol, tol = tolerances(optimizer, task, precision)
    out: dict[str, Any] = {"steps_compared": int(n), "max_abs_loss_diff": None,
                           "max_rel_loss_diff": None, "tolerance": tol,
                           "within_tolerance": None, "early_steps": min(n, EARLY_STEPS),
                           "early_max_rel_loss_diff": None, "early_tolerance": early_tol,
                           "precision": precision}
    if n == 0:
        return out
    a = np.asarray(losses_a[:n], dtype=np.float64)
    b = np.asarray(losses_b[:n], dtype=np.float64)
    diff = np.abs(a - b)
    rel = diff / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    finite = np.isfinite(rel)
    max_rel = float(rel[finite].max()) if finite.any() else None
    early = rel[:EARLY_STEPS]
    early_finite = early[np.isfinite(early)]
    early_max = float(early_finite.max()) if early_finite.size else None
    out.update({
        "max_abs_loss_diff": float(diff[finite].max()) if finite.any() else None,
        "max_rel_loss_diff": max_rel,
        "early_max_rel_loss_diff": early_max,
        "within_tolerance": bool(finite.all() and max_rel is not None and max_rel <= tol
                                 and early_max is not None and early_max <= early_tol),
    })
    return out


SPEEDUP_METHOD = ("ratio of steady-state median step times (slower / faster); percentile "
                  "bootstrap 95 % interval, each engine's steps resampled independently")


def speedup(times: dict[str, np.ndarray], seed: int = 0, n_boot: int = N_BOOT,
            max_samples: int = 4000) -> dict[str, Any] | None:
    """Which engine is faster (ratio of steady-state medians, >= 1) with a bootstrap 95 % CI.

    `ci95` is [low, high] of slower/faster; `significant` is True when the whole interval is
    above 1 (the faster engine is faster beyond the measurement's doubt).
    """
    if len(times) != 2:
        return None
    (na, ta), (nb, tb) = times.items()
    sa, sb = summarize(ta), summarize(tb)
    if sa is None or sb is None or sa.median <= 0 or sb.median <= 0:
        return None
    if sa.median <= sb.median:
        fast, slow, tf_, ts = na, nb, ta, tb
        ratio = sb.median / sa.median
    else:
        fast, slow, tf_, ts = nb, na, tb, ta
        ratio = sa.median / sb.median
    low, high = bootstrap_ratio_ci(ts, tf_, seed=seed, n_boot=n_boot, max_samples=max_samples)
    return {"faster": fast, "slower": slow, "ratio": float(ratio), "ci95": [low, high],
            "unstable": bool(sa.unstable or sb.unstable),
            "significant": bool(low > 1.0),
            "medians_s": {na: sa.median, nb: sb.median},
            "samples": {na: sa.n, nb: sb.n},
            "level": LEVEL, "n_boot": n_boot, "method": SPEEDUP_METHOD}


# Output parity tolerance: float32 forward passes of the same weights on the same batch agree to
# ~1e-6 (MLP, LSTM) .. ~1e-5 (CNN with oneDNN); relative to the largest output magnitude.
OUTPUT_TOLERANCE = 1e-4
# 16-bit forward passes round every layer's output (bf16 eager measured on batch 0: lstm
# 4.4e-3; mlp, cnn and regression agreed exactly).
OUTPUT_PRECISION_TOLERANCE = {"fp32": OUTPUT_TOLERANCE, "bf16": 1.5e-2, "fp16": 1.5e-2,
                              "tf32": 1.5e-2}


def output_parity(outputs: dict[str, Any], batch_size: int | None = None,
                  batch_index: int = 0, precision: str = "fp32") -> dict[str, Any] | None:
    """Max |difference| of two engines' outputs (logits) on the same batch, or None."""
    arrays = {n: np.asarray(o, dtype=np.float64) for n, o in outputs.items() if o is not None}
    if len(arrays) != 2:
        return None
    (na, a), (nb, b) = arrays.items()
    tolerance = OUTPUT_PRECISION_TOLERANCE.get(precision, OUTPUT_TOLERANCE)
    base = {"engines": [na, nb], "batch_index": batch_index, "batch_size": batch_size,
            "precision": precision}
    if a.shape != b.shape:
        return {**base, "shape": [list(a.shape), list(b.shape)], "max_abs_diff": None,
                "max_rel_diff": None, "tolerance": tolerance, "within_tolerance": False,
                "error": f"output shapes differ: {a.shape} vs {b.shape}"}
    diff = np.abs(a - b)
    finite = bool(np.isfinite(diff).all())
    scale = max(1.0, float(np.nanmax(np.abs(a))) if a.size else 1.0)
    max_abs = float(np.nanmax(diff)) if diff.size else 0.0
    return {**base, "shape": list(a.shape), "max_abs_diff": max_abs if finite else None,
            "max_rel_diff": max_abs / scale if finite else None,
            "tolerance": tolerance,
            "within_tolerance": bool(finite and max_abs / scale <= tolerance)}
