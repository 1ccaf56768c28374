"""This machine's calibration of the speed-up interval, as benchmarks/bench_calibration.py
measured it: how often a 95 % interval contained the truth (A/A: 1.0; A/B: the pooled ratio of
the other runs). Results documents quote it next to their speed-up. Read as untrusted data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .store import RunFileError, read_file_capped

FIELDS = {"aa_coverage": float, "aa_runs": int, "ab_coverage": float, "ab_runs": int,
          "measured": float, "cpu": str, "scenario": str, "command": str}
MAX_BYTES = 1 << 16


def load_calibration(path: str | Path | None) -> dict[str, Any] | None:
    """The calibration figures in `path`, or None when there are none or the file is not a
    well-formed calibration (it is only information: never an error)."""
    if path is None:
        return None
    try:
        doc = json.loads(read_file_capped(Path(path), MAX_BYTES))
    except (RunFileError, OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    out: dict[str, Any] = {}
    for key, kind in FIELDS.items():
        v = doc.get(key)
        if kind is float and isinstance(v, (int, float)) and not isinstance(v, bool) \
                and math.isfinite(v):
            out[key] = float(v)
        elif kind is int and isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            out[key] = v
        elif kind is str and isinstance(v, str):
            out[key] = v[:200]
    for key in ("aa_coverage", "ab_coverage"):
        if key in out and not 0.0 <= out[key] <= 1.0:
            del out[key]
    return out if ("aa_coverage" in out or "ab_coverage" in out) else None
