"""Bounded-memory min/max downsampling of a growing series, for charts. No Textual here.

A chart never needs more points than it has pixel columns. `MinMaxDownsampler` streams a
series into at most `capacity` buckets of consecutive points, keeping each bucket's first and
last x and its min and max y. When the buckets are full, neighbours merge pairwise and each
bucket covers twice as many points. Memory stays O(capacity) and the cost of adding points is
O(new points), so redrawing a chart costs the same after a thousand steps as after a million.
Min/max (rather than averaging) keeps spikes visible: a slow step is never smoothed away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_CAPACITY = 2048


@dataclass(frozen=True)
class Columns:
    """A series reduced to `lo`/`hi` per column (NaN where a column has no data)."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def has_data(self) -> bool:
        """True when at least one column holds a finite value."""
        return bool(np.isfinite(self.lo).any())


class MinMaxDownsampler:
    """Streams (x, y) points into at most `capacity` min/max buckets (x must not decrease).

    Non-finite y values (a NaN loss) are kept out of min/max but still counted, so bucket
    boundaries stay aligned with step indices.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.per_bucket = 1  # points per complete bucket (a power of two)
        self.count = 0  # points seen
        self.n = 0  # complete buckets
        self._x0 = np.empty(capacity)
        self._x1 = np.empty(capacity)
        self._lo = np.empty(capacity)
        self._hi = np.empty(capacity)
        # The bucket being filled: its point count and summary (never raw points).
        self._p_n = 0
        self._p = [np.nan, np.nan, np.nan, np.nan]  # x0, x1, lo, hi

    def clear(self) -> None:
        """Forget every point."""
        self.__init__(self.capacity)  # type: ignore[misc]

    # -- adding points -------------------------------------------------------------------
    def extend(self, y, x=None) -> None:
        """Append points; `x` defaults to the running point index (step number)."""
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.size == 0:
            return
        if x is None:
            x = np.arange(self.count, self.count + y.size, dtype=np.float64)
        else:
            x = np.asarray(x, dtype=np.float64).ravel()
            if x.size != y.size:
                raise ValueError("x and y differ in length")
        y = np.where(np.isfinite(y), y, np.nan)
        self.count += y.size
        i, total = 0, y.size
        while i < total:
            pb = self.per_bucket
            if self._p_n or total - i < pb:
                take = min(pb - self._p_n, total - i)
                self._add_partial(x[i:i + take], y[i:i + take])
                i += take
                if self._p_n == pb:
                    self._push(self._p[0], self._p[1], self._p[2], self._p[3])
                    self._p_n = 0
                    self._p = [np.nan, np.nan, np.nan, np.nan]
                continue
            k = min((total - i) // pb, self.capacity - self.n)
            block = y[i:i + k * pb].reshape(k, pb)
            xs = x[i:i + k * pb]
            s = slice(self.n, self.n + k)
            self._x0[s] = xs[::pb]
            self._x1[s] = xs[pb - 1::pb]
            self._lo[s] = np.fmin.reduce(block, axis=1)
            self._hi[s] = np.fmax.reduce(block, axis=1)
            self.n += k
            i += k * pb
            if self.n == self.capacity:
                self._halve()

    def _add_partial(self, x: np.ndarray, y: np.ndarray) -> None:
        p = self._p
        if self._p_n == 0:
            p[0] = x[0]
        p[1] = x[-1]
        p[2] = np.fmin(p[2], np.fmin.reduce(y))
        p[3] = np.fmax(p[3], np.fmax.reduce(y))
        self._p_n += y.size

    def _push(self, x0: float, x1: float, lo: float, hi: float) -> None:
        self._x0[self.n], self._x1[self.n] = x0, x1
        self._lo[self.n], self._hi[self.n] = lo, hi
        self.n += 1
        if self.n == self.capacity:
            self._halve()

    def _halve(self) -> None:
        """Merge neighbouring buckets pairwise: half as many, each twice as wide."""
        n = self.n // 2
        self._x0[:n] = self._x0[0:2 * n:2]
        self._x1[:n] = self._x1[1:2 * n:2]
        self._lo[:n] = np.fmin(self._lo[0:2 * n:2], self._lo[1:2 * n:2])
        self._hi[:n] = np.fmax(self._hi[0:2 * n:2], self._hi[1:2 * n:2])
        self.n = n
        self.per_bucket *= 2

    # -- reading -----------------------------------------------------------------------------
    def buckets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x0, x1, lo, hi) of every bucket, the partial one included (copies)."""
        parts = [a[: self.n] for a in (self._x0, self._x1, self._lo, self._hi)]
        if self._p_n:
            parts = [np.append(a, v) for a, v in zip(parts, self._p)]
        else:
            parts = [a.copy() for a in parts]
        return parts[0], parts[1], parts[2], parts[3]

    def y_range(self) -> tuple[float, float] | None:
        """Smallest and largest finite y so far, or None."""
        _, _, lo, hi = self.buckets()
        if not np.isfinite(lo).any():
            return None
        return float(np.nanmin(lo)), float(np.nanmax(hi))

    def x_last(self) -> float | None:
        """The x of the latest point, or None before any."""
        if self._p_n:
            return float(self._p[1])
        return float(self._x1[self.n - 1]) if self.n else None

    def columns(self, width: int, x_min: float, x_max: float) -> Columns:
        """Reduce to `width` columns spanning [x_min, x_max]; a bucket marks every column its
        x-span touches. Cost depends on `capacity` and `width` only."""
        lo_out = np.full(width, np.nan)
        hi_out = np.full(width, np.nan)
        if width <= 0:
            return Columns(lo_out, hi_out)
        x0, x1, lo, hi = self.buckets()
        keep = np.isfinite(lo)
        if not keep.any():
            return Columns(lo_out, hi_out)
        x0, x1, lo, hi = x0[keep], x1[keep], lo[keep], hi[keep]
        span = max(x_max - x_min, 1e-12)
        scale = (width - 1) / span if width > 1 else 0.0
        c0 = np.clip(np.rint((x0 - x_min) * scale), 0, width - 1).astype(np.intp)
        c1 = np.clip(np.rint((x1 - x_min) * scale), 0, width - 1).astype(np.intp)
        np.fmin.at(lo_out, c0, lo)
        np.fmax.at(hi_out, c0, hi)
        wide = c1 != c0
        if wide.any():
            np.fmin.at(lo_out, c1[wide], lo[wide])
            np.fmax.at(hi_out, c1[wide], hi[wide])
        return Columns(lo_out, hi_out)
