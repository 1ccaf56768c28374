"""The scaling view's content: samples/s against worker count, per engine, with the ideal line.

Pure data and text (no Textual): `scaling_series` reads a results document's `scaling` block
defensively (it may come from a file: anything malformed is left out), `scaling_grid` draws the
points and lines as a character grid the screen colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

IDEAL = "·"
MEASURED = "●"
LINE = "•"


@dataclass(frozen=True)
class ScalingSeries:
    """One engine's measured samples/s at each worker count, and the ideal (N x one worker)."""

    engine: str
    workers: tuple[int, ...]
    rates: tuple[float | None, ...]
    ideal: tuple[float | None, ...]
    efficiency: tuple[float | None, ...]


def _number(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    return float(v) if ok else None


def scaling_series(doc: dict[str, Any]) -> tuple[str, list[ScalingSeries]]:
    """(scale_batch, one series per engine) of a document's `scaling` block; ("", []) when
    there is none."""
    block = doc.get("scaling") if isinstance(doc, dict) else None
    if not isinstance(block, dict):
        return "", []
    kind = block.get("scale_batch") if block.get("scale_batch") in ("global", "per-replica") \
        else "global"
    out = []
    for name, rows in block.items():
        if not isinstance(rows, list) or name in ("workers", "scale_batch"):
            continue
        good = [r for r in rows if isinstance(r, dict) and isinstance(r.get("workers"), int)
                and not isinstance(r.get("workers"), bool) and 1 <= r["workers"] <= 1024]
        good.sort(key=lambda r: r["workers"])
        if not good:
            continue
        eff_key = "strong_eff" if kind == "global" else "weak_eff"
        out.append(ScalingSeries(str(name)[:64], tuple(r["workers"] for r in good),
                                 tuple(_number(r.get("samples_per_s")) for r in good),
                                 tuple(_number(r.get("ideal_samples_per_s")) for r in good),
                                 tuple(_number(r.get(eff_key)) for r in good)))
    return kind, out


def scaling_grid(series: list[ScalingSeries], width: int, height: int
                 ) -> tuple[list[list[tuple[str, int]]], float, list[int]]:
    """(rows of (char, series index; -1 none) cells, the y-axis top in samples/s, the worker
    counts on the x-axis). Measured points are MEASURED joined by LINE; the ideal IDEAL."""
    width, height = max(8, width), max(4, height)
    grid = [[(" ", -1)] * width for _ in range(height)]
    counts = sorted({n for s in series for n in s.workers})
    values = [v for s in series for v in (*s.rates, *s.ideal) if v]
    if not counts or not values:
        return grid, 0.0, counts
    top = max(values) * 1.05
    lo, hi = counts[0], counts[-1]

    def col(n: float) -> int:
        return 0 if hi == lo else round((n - lo) / (hi - lo) * (width - 1))

    def row(v: float) -> int:
        return min(height - 1, max(0, height - 1 - round(v / top * (height - 1))))

    def draw(xs: tuple[int, ...], ys: tuple[float | None, ...], char: str, index: int,
             points: bool) -> None:
        known = [(x, y) for x, y in zip(xs, ys) if y is not None]
        for (x0, y0), (x1, y1) in zip(known, known[1:]):
            c0, c1 = col(x0), col(x1)
            for c in range(c0, c1 + 1):
                y = y0 + (y1 - y0) * ((c - c0) / (c1 - c0) if c1 > c0 else 0)
                r = row(y)
                if grid[r][c][0] in (" ", IDEAL):
                    grid[r][c] = (char, index)
        if points:
            for x, y in known:
                grid[row(y)][col(x)] = (MEASURED, index)

    for i, s in enumerate(series):
        draw(s.workers, s.ideal, IDEAL, i, False)
    for i, s in enumerate(series):
        draw(s.workers, s.rates, LINE, i, True)
    return grid, top, counts
