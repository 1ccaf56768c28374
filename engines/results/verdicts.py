"""Verdicts across engines: loss parity and the speed-up with its confidence interval."""

from __future__ import annotations

from typing import Any

import numpy as np

from scenarios import Scenario, has_active_dropout

from ..pairing import DEFAULT_CONFIDENCE_PCT, MIN_PAIRS, paired_speedup
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


# Dropout makes exact parity impossible: each framework draws its own masks, so the two loss
# curves differ from the first step. With dropout active in training the verdict is
# statistical: each curve is smoothed by a trailing moving median over SMOOTHING_WINDOW steps,
# and the smoothed curves must stay within STATISTICAL_BAND of each other, as a fraction of the
# starting loss (the larger first smoothed value). Relative to the current loss would not do:
# near a loss of 0.05 mask noise alone is 30 % of it.
# Measured (CPU, SGD, dropout 0.1 / 0.3 / 0.5; PyTorch vs TensorFlow and PyTorch vs PyTorch
# with other masks, which behave alike; 63 pairs each on a digits CNN, mlp and regression, 18
# on cnn): the largest smoothed gap between same-work curves was 0.075, 0.050, 0.160 and 0.039
# of the starting loss with a 51-step window (regression reached 0.26 with 21 steps, while
# its steep start is still in the window). One side's learning rate 1.5x too high reached
# 0.26, 0.15, 0.15, 0.33; 2x reached 0.38, 0.24, 0.22, 0.56. A band of 0.25 is 1.6x the worst
# mask noise seen: it flags gross differences in work (a side that diverges, does not learn,
# or reports another loss scale; a 2x learning rate on the convolutional models), not subtle
# ones, and it never proves identical work as the exact check does, which is said wherever
# it is shown.
SMOOTHING_WINDOW = 51
STATISTICAL_BAND = 0.25
STATISTICAL_NOTE = ("loss parity is statistical, not exact: with dropout each framework draws "
                    f"its own masks, so moving medians over {SMOOTHING_WINDOW} steps are checked "
                    f"to stay within {STATISTICAL_BAND:.0%} of the starting loss")


def trains_with_dropout(scenario: Scenario, task: str) -> bool:
    """True when the run's parity can only be statistical: training with active dropout."""
    return task == "train" and has_active_dropout(scenario)


def moving_median(values: np.ndarray, window: int) -> np.ndarray:
    """Medians of every complete trailing window of `window` values (len - window + 1)."""
    x = np.asarray(values, dtype=np.float64)
    if window < 1 or x.size < window:
        return np.zeros(0)
    return np.median(np.lib.stride_tricks.sliding_window_view(x, window), axis=1)


def statistical_parity(losses_a: np.ndarray, losses_b: np.ndarray,
                       window: int = SMOOTHING_WINDOW,
                       band: float = STATISTICAL_BAND) -> dict[str, Any]:
    """The statistical verdict for two loss curves trained with dropout (see above). Runs
    shorter than `window` steps are smoothed over the steps they have."""
    n = min(len(losses_a), len(losses_b))
    k = max(1, min(window, n))
    out: dict[str, Any] = {"method": "statistical", "steps_compared": int(n), "window": k,
                           "band": band, "tolerance": band, "scale": None,
                           "max_abs_loss_diff": None, "max_rel_loss_diff": None,
                           "within_tolerance": None, "early_steps": 0,
                           "early_max_rel_loss_diff": None, "early_tolerance": None,
                           "note": STATISTICAL_NOTE}
    if n == 0:
        return out
    a, b = (moving_median(np.asarray(x[:n], dtype=np.float64), k) for x in (losses_a, losses_b))
    diff = np.abs(a - b)
    scale = max(abs(a[0]), abs(b[0]), 1e-12)
    finite = bool(np.isfinite(diff).all() and np.isfinite(scale))
    worst = float(diff.max() / scale) if finite else None
    out.update({"scale": float(scale) if finite else None,
                "max_abs_loss_diff": float(diff.max()) if finite else None,
                "max_rel_loss_diff": worst,
                "within_tolerance": bool(finite and worst <= band)})
    return out


def parity(losses_a: np.ndarray, losses_b: np.ndarray, optimizer: str,
           task: str = "train", precision: str = "fp32",
           statistical: bool = False) -> dict[str, Any]:
    """Compare two loss curves over the steps both have done (early window and whole run),
    against the bounds of the run's optimizer, task and precision.

    `statistical`: the run trains with dropout (trains_with_dropout), so the curves are
    compared statistically (statistical_parity) rather than step by step."""
    if statistical:
        return {**statistical_parity(losses_a, losses_b), "precision": precision}
    n = min(len(losses_a), len(losses_b))
    early_tol, tol = tolerances(optimizer, task, precision)
    out: dict[str, Any] = {"method": "exact", "steps_compared": int(n),
                           "max_abs_loss_diff": None,
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


def evaluation_parity(evals_a: list[Any], evals_b: list[Any], optimizer: str,
                      task: str = "train", statistical: bool = False,
                      precision: str = "fp32") -> dict[str, Any]:
    """Compare two engines' held-out evaluations (protocol.Evaluation) made after the same
    steps, by the same rule as the training losses: exact (an evaluation within the first
    EARLY_STEPS steps to the early tolerance, later ones to the drift tolerance), or, with
    dropout, within STATISTICAL_BAND of the first held-out loss (measured with dropout 0.1 to
    0.5 on a digits MLP and a regression, 36 pairs: at most 0.064 of it; evaluations have no
    mask noise, only the trajectories differ). Accuracies are reported (the largest
    difference), not judged: one flipped sample moves them by 1/held-out size, and with
    dropout they differed by up to 6 points."""
    by_step = {e.step: e for e in evals_b}
    pairs = [(e, by_step[e.step]) for e in evals_a if e.step in by_step]
    early_tol, tol = tolerances(optimizer, task, precision)
    out: dict[str, Any] = {
        "method": "statistical" if statistical else "exact",
        "evaluations_compared": len(pairs), "max_abs_loss_diff": None,
        "max_rel_loss_diff": None, "max_abs_accuracy_diff": None,
        "tolerance": STATISTICAL_BAND if statistical else tol,
        "early_tolerance": None if statistical else early_tol, "within_tolerance": None}
    if not pairs:
        return out
    la = np.array([a.loss for a, _ in pairs], dtype=np.float64)
    lb = np.array([b.loss for _, b in pairs], dtype=np.float64)
    diff = np.abs(la - lb)
    if statistical:
        rel = diff / max(abs(la[0]), abs(lb[0]), 1e-12)
        limits = np.full(len(pairs), STATISTICAL_BAND)
    else:
        rel = diff / np.maximum(np.maximum(np.abs(la), np.abs(lb)), 1e-12)
        limits = np.array([early_tol if a.step <= EARLY_STEPS else tol for a, _ in pairs])
    accuracy = [abs(a.accuracy - b.accuracy) for a, b in pairs
                if a.accuracy is not None and b.accuracy is not None]
    finite = bool(np.isfinite(rel).all())
    out.update({
        "max_abs_loss_diff": float(diff.max()) if finite else None,
        "max_rel_loss_diff": float(rel.max()) if finite else None,
        "max_abs_accuracy_diff": float(max(accuracy)) if accuracy else None,
        "within_tolerance": bool(finite and (rel <= limits).all()),
    })
    return out


SPEEDUP_METHOD = ("unpaired: ratio of steady-state median step times (slower / faster); "
                  "percentile bootstrap 95 % interval, each engine's steps resampled "
                  "independently. Not calibrated: it ignores drift, so it is too narrow on a "
                  "shared machine (paired turns are, see engines.pairing)")


def speedup(times: dict[str, np.ndarray], seed: int = 0, n_boot: int = N_BOOT,
            max_samples: int = 4000, turns: dict[str, dict[int, float]] | None = None,
            confidence_pct: float = DEFAULT_CONFIDENCE_PCT) -> dict[str, Any] | None:
    """Which engine is faster (ratio >= 1) and how sure that is.

    With `turns` (each engine's median step time per turn, from the alternate schedule) and at
    least MIN_PAIRS complete turn pairs, the ratio and its 95 % interval come from the paired
    turns (engines.pairing). Otherwise: the ratio of steady-state medians with a step-level
    bootstrap interval, marked `paired: false` (not calibrated). `ci95` is [low, high] of
    slower/faster; `significant` is True when the whole interval is above 1; `doubts` lists
    why the verdict is in doubt (empty when it is not); `confident` says whether the
    interval's half-width is within `confidence_pct` %.
    """
    if len(times) != 2:
        return None
    (na, ta), (nb, tb) = times.items()
    sa, sb = summarize(ta), summarize(tb)
    if sa is None or sb is None or sa.median <= 0 or sb.median <= 0:
        return None
    base = {"medians_s": {na: sa.median, nb: sb.median}, "samples": {na: sa.n, nb: sb.n},
            "unstable": bool(sa.unstable or sb.unstable), "level": LEVEL,
            "confidence_pct": confidence_pct}
    paired = paired_speedup(turns) if turns is not None and len(turns) == 2 else None
    if paired is not None and paired.ci95 is not None:
        out = paired.to_dict()
        out.update(base)
        out.update({"paired": True, "doubts": paired.doubts(confidence_pct),
                    "confident": paired.confident(confidence_pct)})
        return out
    if sa.median <= sb.median:
        fast, slow, tf_, ts = na, nb, ta, tb
        ratio = sb.median / sa.median
    else:
        fast, slow, tf_, ts = nb, na, tb, ta
        ratio = sa.median / sb.median
    low, high = bootstrap_ratio_ci(ts, tf_, seed=seed, n_boot=n_boot, max_samples=max_samples)
    doubts = []
    if paired is not None:  # paired turns, but too few of them
        doubts.append(f"only {paired.pairs} turn pair(s), too short a run for a calibrated "
                      f"interval (at least {MIN_PAIRS} are needed; this one ignores drift): "
                      "run more steps, or --until-confident")
    elif turns is None:
        doubts.append("unpaired measurement (sequential or parallel schedule): the interval "
                      "ignores drift and is too narrow")
    if low <= 1.0:
        doubts.append(f"the 95 % interval ({low:.2f}-{high:.2f}) includes 1: no clear "
                      "difference")
    return {"faster": fast, "slower": slow, "ratio": float(ratio), "ci95": [low, high],
            "significant": bool(low > 1.0), "n_boot": n_boot, "method": SPEEDUP_METHOD,
            "paired": False, "pairs": paired.pairs if paired is not None else 0,
            "pair_ratios": list(paired.pair_ratios) if paired is not None else [],
            "half_width": None, "drift": None, "doubts": doubts, "confident": False, **base}


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
