"""Live figures that grow with a run but cost the same at step 1e3 and 1e6.

`StepTimeStats` keeps the median/IQR of steady-state step times: exact while there are few
samples, then from a fine log-spaced histogram (0.1 % wide bins, so the median is within
0.05 % of the exact one). `ParityTracker` compares the two loss curves step by step as they
arrive (`StatisticalParityTracker` when dropout makes exact parity impossible). All take only
the new points each frame. The figures shown once a run has ended are
recomputed exactly (engines.results), so the histogram only ever serves the live view.
"""

from __future__ import annotations

import math

import numpy as np

from engines.results.verdicts import (
    EARLY_STEPS,
    SMOOTHING_WINDOW,
    STATISTICAL_BAND,
    moving_median,
)
from engines.stats import Summary, summarize

_T_MIN, _T_MAX, _RATIO = 1e-7, 1e4, 1.001
_LOG_MIN, _LOG_R = math.log(_T_MIN), math.log(_RATIO)
_NBINS = int(math.ceil(math.log(_T_MAX / _T_MIN) / _LOG_R)) + 1
# Geometric centre of each bin.
_CENTRES = np.exp(_LOG_MIN + (np.arange(_NBINS) + 0.5) * _LOG_R)


class StepTimeStats:
    """Median, quartiles, p90/p99 and count of step times, in bounded memory."""

    EXACT_LIMIT = 20_000  # beyond this many samples, quantiles come from the histogram

    def __init__(self) -> None:
        self.n = 0
        self._exact: list[np.ndarray] | None = []
        self._hist = np.zeros(_NBINS, dtype=np.int64)
        self._cached: Summary | None = None
        self._cached_n = -1

    def add(self, times) -> None:
        """Add step times (seconds)."""
        t = np.asarray(times, dtype=np.float64).ravel()
        t = t[np.isfinite(t)]
        if t.size == 0:
            return
        self.n += t.size
        idx = np.clip(((np.log(np.maximum(t, _T_MIN)) - _LOG_MIN) / _LOG_R).astype(np.int64),
                      0, _NBINS - 1)
        self._hist += np.bincount(idx, minlength=_NBINS)
        if self._exact is not None:
            self._exact.append(t)
            if self.n > self.EXACT_LIMIT:
                self._exact = None  # from now on the histogram answers

    @property
    def exact(self) -> bool:
        """True while quantiles are computed from every sample."""
        return self._exact is not None

    def summary(self) -> Summary | None:
        """Median/Q1/Q3/p90/p99 so far (cached until new samples arrive), None before any."""
        if self.n == 0:
            return None
        if self._cached_n == self.n:
            return self._cached
        if self._exact is not None:
            if len(self._exact) > 1:
                self._exact = [np.concatenate(self._exact)]
            s = summarize(self._exact[0])
        else:
            cum = np.cumsum(self._hist)
            q1, med, q3, p90, p99 = (
                float(_CENTRES[np.searchsorted(cum, q * self.n, side="left")])
                for q in (0.25, 0.5, 0.75, 0.90, 0.99))
            s = Summary(self.n, med, q1, q3, p90, p99)
        self._cached, self._cached_n = s, self.n
        return s


class _LossGap:
    """The largest and the latest difference between two curves seen so far (absolute, and
    relative as its tracker defines it), and whether a non-finite one occurred."""

    def __init__(self) -> None:
        self.max_abs: float | None = None
        self.max_rel: float | None = None
        self.last_abs: float | None = None
        self.last_rel: float | None = None
        self.nonfinite = False

    def _take(self, diff: np.ndarray, rel: np.ndarray) -> None:
        """Fold in the differences of the newest points (at least one)."""
        finite = np.isfinite(rel)
        if not finite.all():
            self.nonfinite = True
        if finite.any():
            m_abs, m_rel = float(diff[finite].max()), float(rel[finite].max())
            self.max_abs = m_abs if self.max_abs is None else max(self.max_abs, m_abs)
            self.max_rel = m_rel if self.max_rel is None else max(self.max_rel, m_rel)
        self.last_abs = float(diff[-1]) if math.isfinite(diff[-1]) else None
        self.last_rel = float(rel[-1]) if math.isfinite(rel[-1]) else None


class ParityTracker(_LossGap):
    """|loss_a - loss_b| per step, accumulated as both curves grow (same rule as
    engines.comparison.parity, so the live verdict and the export agree): the first
    `early_steps` must agree to `early_tolerance`, the whole run to `tolerance`."""

    method = "exact"

    def __init__(self, tolerance: float, early_tolerance: float | None = None,
                 early_steps: int = EARLY_STEPS):
        super().__init__()
        self.tolerance = tolerance
        self.early_tolerance = tolerance if early_tolerance is None else early_tolerance
        self.early_steps = early_steps
        self.early_max_rel: float | None = None
        self.compared = 0

    def add(self, a, b) -> None:
        """Compare the next steps of both curves (equal lengths)."""
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.size == 0:
            return
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
        finite = np.isfinite(rel)
        early_n = max(0, min(a.size, self.early_steps - self.compared))
        if early_n:
            early = rel[:early_n][finite[:early_n]]
            if early.size:
                m = float(early.max())
                self.early_max_rel = m if self.early_max_rel is None else max(self.early_max_rel, m)
        self.compared += a.size
        self._take(diff, rel)

    @property
    def within_tolerance(self) -> bool | None:
        """None before any comparison; False once a step differs too much or is non-finite."""
        if self.compared == 0:
            return None
        return bool(self.max_rel is not None and self.max_rel <= self.tolerance
                    and self.early_max_rel is not None
                    and self.early_max_rel <= self.early_tolerance and not self.nonfinite)


class StatisticalParityTracker(_LossGap):
    """The statistical parity check of a run with dropout, as both curves grow (the same rule
    as engines.results.verdicts.statistical_parity): trailing moving medians over `window`
    steps, their difference as a fraction of the starting loss, against `band`. Keeps only
    the last window - 1 losses of each curve."""

    method = "statistical"
    early_tolerance = None
    early_max_rel = None

    def __init__(self, band: float = STATISTICAL_BAND, window: int = SMOOTHING_WINDOW):
        super().__init__()
        self.tolerance = band
        self.window = window
        self.compared = 0  # steps of both curves taken in
        self.smoothed = 0  # smoothed points compared (from step window - 1 on)
        self.scale: float | None = None  # the starting loss: larger first smoothed value
        self._tail_a = np.zeros(0)
        self._tail_b = np.zeros(0)

    def add(self, a, b) -> None:
        """Take the next steps of both curves (equal lengths)."""
        a = np.concatenate([self._tail_a, np.asarray(a, dtype=np.float64)])
        b = np.concatenate([self._tail_b, np.asarray(b, dtype=np.float64)])
        self.compared += a.size - self._tail_a.size
        keep = self.window - 1
        self._tail_a, self._tail_b = (a[-keep:], b[-keep:]) if keep else (a[:0], b[:0])
        ma, mb = moving_median(a, self.window), moving_median(b, self.window)
        if ma.size == 0:
            return
        if self.scale is None:
            self.scale = max(abs(float(ma[0])), abs(float(mb[0])), 1e-12)
        diff = np.abs(ma - mb)
        self.smoothed += ma.size
        self._take(diff, diff / self.scale)

    @property
    def within_tolerance(self) -> bool | None:
        """None until the first full window; False once the smoothed curves leave the band."""
        if self.smoothed == 0:
            return None
        return bool(self.max_rel is not None and self.max_rel <= self.tolerance
                    and not self.nonfinite)
