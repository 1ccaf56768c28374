"""Robust statistics of step times: median, IQR, percentiles, outliers, bootstrap intervals.

Everything here is plain numpy and deterministic (bootstraps are seeded), so the same inputs
always give the same figures. Percentiles use numpy's default linear interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

UNSTABLE_IQR_RATIO = 0.10  # IQR/median above this: the measurement is flagged unstable
MIN_SAMPLES = 5  # fewer steady steps than this: too few to trust (also flagged unstable)
# A step is marked an outlier (kept, not dropped) when it is beyond Tukey's far-out fence
# (Q3 + 3 IQR) AND more than twice the median: a GC pause or a retrace at least doubles a
# step, while a tight distribution's ordinary tail (measured: 10 % of 0.2 ms PyTorch steps lie
# beyond Q3 + 3 IQR, all under 1.7x the median) is jitter, not an event.
OUTLIER_IQRS = 3.0
OUTLIER_MIN_FACTOR = 2.0
N_BOOT = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Summary:
    """Median, quartiles and tail percentiles of a set of step times (seconds)."""

    n: int
    median: float
    q1: float
    q3: float
    p90: float = math.nan
    p99: float = math.nan
    mean: float = math.nan

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def rel_iqr(self) -> float:
        """IQR / median: the spread relative to the figure (inf when the median is 0)."""
        return self.iqr / self.median if self.median > 0 else math.inf

    @property
    def unstable(self) -> bool:
        """True when the spread is too large (or too few samples) to trust the median."""
        return self.n < MIN_SAMPLES or self.rel_iqr > UNSTABLE_IQR_RATIO


def summarize(times: np.ndarray) -> Summary | None:
    """Median/quartiles/p90/p99 of `times`; None when there are none."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return None
    q1, med, q3, p90, p99 = np.percentile(t, [25, 50, 75, 90, 99])
    return Summary(int(t.size), float(med), float(q1), float(q3), float(p90), float(p99),
                   float(t.mean()))


def is_stable(times: np.ndarray, min_samples: int = MIN_SAMPLES) -> bool:
    """True when there are at least `min_samples` times and IQR/median <= 10 %."""
    s = summarize(times)
    return s is not None and s.n >= min_samples and not s.unstable


def outlier_mask(times: np.ndarray) -> np.ndarray:
    """Boolean mask of outlier steps (GC pauses, retracing): slower than Q3 + 3 IQR and than
    twice the median.

    Outliers stay in every statistic (the median is robust to them); they are only marked.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size < MIN_SAMPLES:
        return np.zeros(t.size, dtype=bool)
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return t > max(q3 + OUTLIER_IQRS * (q3 - q1), OUTLIER_MIN_FACTOR * med)


def _quantiles(ratios: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return float(low), float(high)


def thin(x: np.ndarray, max_samples: int) -> np.ndarray:
    """At most `max_samples` values taken evenly across the whole of `x` (all if fewer).

    Used to bound bootstrap cost: the thinned sample spans the whole run, so the interval
    stays centred on the full run's median; with fewer samples it is a little wider
    (conservative), never narrower.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size <= max_samples:
        return x
    return x[np.linspace(0, x.size - 1, max_samples).round().astype(np.int64)]


def bootstrap_ratio_ci(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT,
                       level: float = LEVEL, seed: int = 0,
                       max_samples: int = 4000) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(a) / median(b), each side resampled independently.

    Seeded, so the same inputs give the same interval. Long runs are thinned evenly to
    `max_samples` steps a side to keep the cost bounded (about 0.3 s at 4000 a side).
    """
    a = thin(a, max_samples)
    b = thin(b, max_samples)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap needs samples on both sides")
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
    return _quantiles(ma / mb, level)


def hierarchical_bootstrap_ratio_ci(runs_a: Sequence[np.ndarray], runs_b: Sequence[np.ndarray],
                                    *, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0,
                                    max_samples: int = 4000) -> tuple[float, float]:
    """Bootstrap interval of pooled median(a) / median(b) over repeated runs.

    Two levels: the repeats are resampled with replacement (paired: repeat r of `a` and of
    `b` ran together), then the steps inside each chosen repeat. So the interval includes the
    run-to-run spread that a single run's bootstrap cannot see.
    """
    if len(runs_a) != len(runs_b) or not runs_a:
        raise ValueError("need the same, non-zero number of repeats on both sides")
    k = len(runs_a)
    per = max(1, max_samples // k)
    ra = [thin(r, per) for r in runs_a]
    rb = [thin(r, per) for r in runs_b]
    if any(r.size == 0 for r in ra + rb):
        raise ValueError("every repeat needs samples on both sides")
    rng = np.random.default_rng(seed)
    ratios = np.empty(n_boot)
    for i in range(n_boot):
        chosen = rng.integers(0, k, size=k)
        pa = np.concatenate([ra[j][rng.integers(0, ra[j].size, size=ra[j].size)] for j in chosen])
        pb = np.concatenate([rb[j][rng.integers(0, rb[j].size, size=rb[j].size)] for j in chosen])
        ratios[i] = np.median(pa) / np.median(pb)
    return _quantiles(ratios, level)


def breakeven_steps(first_eager: float, median_eager: float, first_compiled: float,
                    median_compiled: float) -> int | None:
    """Steps after which a compiled mode has paid for its first-step (trace/compile) cost.

    Total time of n steps is modelled as first + (n - 1) * median for each mode; returns the
    smallest n where compiled <= eager, 1 when compiled is never behind, None when it never
    catches up (its steady step is not faster).
    """
    values = (first_eager, median_eager, first_compiled, median_compiled)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    extra = first_compiled - first_eager
    if extra <= 0 and median_compiled <= median_eager:
        return 1
    saving = median_eager - median_compiled
    if saving <= 0:
        return None
    return 1 + max(0, math.ceil(extra / saving - 1e-12))
