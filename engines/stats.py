"""Robust statistics of step times: median, IQR, bootstrap interval of a speed-up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNSTABLE_IQR_RATIO = 0.10  # IQR/median above this: the measurement is flagged unstable
OUTLIER_IQRS = 3.0  # a step slower than Q3 + 3 IQR is marked an outlier (kept, not dropped)


@dataclass(frozen=True)
class Summary:
    """Median and spread of a set of step times (seconds)."""

    n: int
    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def unstable(self) -> bool:
        """True when the spread is too large (or too few samples) to trust the median."""
        return self.n < 5 or (self.median > 0 and self.iqr / self.median > UNSTABLE_IQR_RATIO)


def summarize(times: np.ndarray) -> Summary | None:
    """Median/IQR of `times`; None when there are none."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return None
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return Summary(int(t.size), float(med), float(q1), float(q3))


def outlier_mask(times: np.ndarray) -> np.ndarray:
    """Boolean mask of outlier steps (e.g. GC pauses, retracing): slower than Q3 + 3 IQR."""
    t = np.asarray(times, dtype=np.float64)
    if t.size < 5:
        return np.zeros(t.size, dtype=bool)
    q1, q3 = np.percentile(t, [25, 75])
    return t > q3 + OUTLIER_IQRS * max(q3 - q1, 1e-12)


def bootstrap_ratio_ci(a: np.ndarray, b: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0, max_samples: int = 4000) -> tuple[float, float]:
    """Bootstrap interval of median(a) / median(b), resampling each side independently.

    Seeded, so the same inputs give the same interval. Long runs use their last
    `max_samples` steps to keep the cost bounded.
    """
    a = np.asarray(a, dtype=np.float64)[-max_samples:]
    b = np.asarray(b, dtype=np.float64)[-max_samples:]
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap needs samples on both sides")
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
    ratios = ma / mb
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return float(low), float(high)
