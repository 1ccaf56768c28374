"""A braille line plot: per-column min/max envelopes drawn at 2x4 dots per cell. Pure numpy.

`plot_rows` turns already downsampled columns (engines.downsample.Columns, two per cell) into
rows of text runs tagged with the series that drew them, or BOTH where curves overlap (which is
what parity looks like: the two loss curves drawn on top of each other). The cost depends on
the plot's size only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .downsample import Columns

NONE = -1
BOTH = -2
BLANK = " "
# Dot weights of a braille cell, indexed [row 0..3 from the top][column 0..1].
_WEIGHTS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint32)


@dataclass(frozen=True)
class YScale:
    """The y-range of a plot and whether it is logarithmic."""

    lo: float
    hi: float
    log: bool = False

    def to_unit(self, y: np.ndarray) -> np.ndarray:
        """Map values to 0 (bottom) .. 1 (top); values beyond the range fall outside 0..1."""
        if self.log:
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log10(np.where(y > 0, y, self.lo))
        else:
            lo, hi = self.lo, self.hi
        return (y - lo) / (hi - lo if hi > lo else 1.0)

    def value_at(self, unit: float) -> float:
        """The value at 0..1 of the height."""
        if self.log:
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            return 10 ** (lo + unit * (hi - lo))
        return self.lo + unit * (self.hi - self.lo)


def y_scale(ranges: list[tuple[float, float]], log: bool, cap: float | None = None,
            floor_zero: bool = False) -> YScale | None:
    """A y-range covering every (lo, hi), with a little margin; None without data.

    `cap` lowers the top (values above it are clipped to the top row); `floor_zero` starts a
    linear axis at 0 (step times). Log scale needs positive values and falls back to linear.
    """
    if not ranges:
        return None
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    if cap is not None and cap > lo:
        hi = min(hi, cap)
    if log and lo > 0:
        if hi <= lo:
            hi = lo * 10
        pad = (math.log10(hi) - math.log10(lo)) * 0.05
        return YScale(10 ** (math.log10(lo) - pad), 10 ** (math.log10(hi) + pad), True)
    if floor_zero and lo >= 0:
        lo = 0.0
    if hi <= lo:
        span = abs(hi) or 1.0
        return YScale(lo - 0.5 * span, hi + 0.5 * span, False)
    pad = (hi - lo) * 0.05
    return YScale(lo if floor_zero and lo == 0 else lo - pad, hi + pad, False)


def _pixel_rows(cols: Columns, scale: YScale, px_h: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Per pixel column: lowest and highest dot row (0 = bottom) and whether it has data."""
    lo, hi = cols.lo.copy(), cols.hi.copy()
    has = np.isfinite(lo)
    idx = np.flatnonzero(has)
    if idx.size >= 2:
        # Columns between two data columns (fewer points than pixels): interpolate.
        gap = np.zeros_like(has)
        gap[idx[0]:idx[-1] + 1] = True
        gap &= ~has
        if gap.any():
            mid = (lo[idx] + hi[idx]) / 2
            fill = np.interp(np.flatnonzero(gap), idx, mid)
            lo[gap] = hi[gap] = fill
            has = has | gap
    r_lo = np.rint(scale.to_unit(np.where(has, lo, scale.lo)) * (px_h - 1))
    r_hi = np.rint(scale.to_unit(np.where(has, hi, scale.lo)) * (px_h - 1))
    r_lo = np.clip(r_lo, 0, px_h - 1).astype(np.int64)
    r_hi = np.clip(r_hi, 0, px_h - 1).astype(np.int64)
    # Join each column to the previous one so a steep line has no holes.
    prev_has = np.concatenate(([False], has[:-1]))
    prev_lo = np.concatenate(([0], r_lo[:-1]))
    prev_hi = np.concatenate(([0], r_hi[:-1]))
    link = has & prev_has
    up = link & (r_lo > prev_hi + 1)
    down = link & (r_hi < prev_lo - 1)
    r_lo = np.where(up, prev_hi + 1, r_lo)
    r_hi = np.where(down, prev_lo - 1, r_hi)
    return r_lo, r_hi, has


def plot_rows(series: list[Columns], width: int, height: int,
              scale: YScale) -> list[list[tuple[str, int]]]:
    """Rows (top first) of (text, owner) runs; owner is a series index, BOTH or NONE.

    Each series must have 2 * width columns.
    """
    if width <= 0 or height <= 0:
        return []
    px_h = 4 * height
    rows = np.arange(px_h)[:, None]
    bits = []
    for cols in series:
        r_lo, r_hi, has = _pixel_rows(cols, scale, px_h)
        mask = (rows >= r_lo[None, :]) & (rows <= r_hi[None, :]) & has[None, :]
        mask = mask[::-1]  # row 0 at the top
        cells = mask.reshape(height, 4, width, 2)
        bits.append(np.einsum("hywx,yx->hw", cells.astype(np.uint32), _WEIGHTS))
    if bits:
        stack = np.stack(bits)
        code = np.bitwise_or.reduce(stack, axis=0)
        present = stack > 0
        count = present.sum(axis=0)
        owner = np.where(count == 0, NONE, np.where(count > 1, BOTH, present.argmax(axis=0)))
    else:
        code = np.zeros((height, width), dtype=np.uint32)
        owner = np.full((height, width), NONE)
    chars = np.where(code > 0, 0x2800 + code, ord(BLANK)).astype("<u4")
    out = []
    for r in range(height):
        text = chars[r].tobytes().decode("utf-32-le")
        own = owner[r]
        cuts = np.flatnonzero(np.diff(own)) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [width]))
        out.append([(text[s:e], int(own[s])) for s, e in zip(starts, ends)])
    return out
