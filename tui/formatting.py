"""How numbers read on screen: durations, sizes, rates, counts, ETAs. Pure functions."""

from __future__ import annotations

import math

DASH = "—"


def fmt_duration(seconds: float | None) -> str:
    """A step or phase time with a unit that suits it: '812 µs', '2.08 ms', '4.70 s', '2m05s'."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    s = abs(seconds)
    if s < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if s < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    if s < 60.0:
        return f"{seconds:.3g} s"
    m, sec = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def fmt_eta(seconds: float | None) -> str:
    """Remaining time, coarse on purpose (it is an estimate): '12 s', '3m04s', '—'."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return DASH
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return fmt_duration(seconds)


def fmt_bytes(n: float | None) -> str:
    """Binary units: '512 MiB', '1.1 GiB'."""
    if n is None or not math.isfinite(n):
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(n)} B"
            # 3 significant digits, but never exponent notation (1000-1023 would give 1e+03).
            return f"{n:.0f} {unit}" if abs(n) >= 100 else f"{n:.3g} {unit}"
        n /= 1024
    return DASH  # pragma: no cover


def fmt_count(n: float | None) -> str:
    """A rate or count in engineering short form: '950', '61.7k', '1.26M'."""
    if n is None or not math.isfinite(n):
        return DASH
    a = abs(n)
    if a < 1000:
        return f"{n:.3g}" if a < 100 and a != int(a) else f"{n:.0f}"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.0f}"  # pragma: no cover


def fmt_flops(n: float | None) -> str:
    """FLOPs with an SI prefix: '60.6 MFLOP'."""
    if n is None or not math.isfinite(n):
        return DASH
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g} {prefix}FLOP"
    return f"{n:.0f} FLOP"


def fmt_params(n: int) -> str:
    """A parameter count with thin grouping: '203,530'."""
    return f"{n:,}"


def fmt_shape(shape: tuple[int, ...]) -> str:
    """A tensor shape without the batch dimension: '(28, 28, 3)'."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def fmt_value(x: float | None, digits: int = 4) -> str:
    """A loss or axis value: fixed point where readable, scientific otherwise."""
    if x is None:
        return DASH
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    a = abs(x)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{x:.{max(1, digits - 2)}e}"
    return f"{x:.{digits}g}"


def fmt_sci(x: float | None) -> str:
    """A small difference in scientific notation: '4.0e-07'."""
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.1e}"


def progress_bar(done: int, total: int, width: int) -> str:
    """A block progress bar exactly `width` cells wide, with eighth-block resolution."""
    if width <= 0:
        return ""
    frac = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
    eighths = int(round(frac * width * 8))
    full, rest = divmod(eighths, 8)
    bar = "█" * full
    if rest and full < width:
        bar += " ▏▎▍▌▋▊▉"[rest]
    return bar + " " * (width - len(bar))


def eta_seconds(steps_done: int, steps_total: int, first_wall: float | None,
                last_wall: float | None) -> float | None:
    """Remaining seconds at the engine's average pace since its first step.

    The pace includes the time an engine waits for the other one's turn, so the estimate
    holds for alternating schedules too. Uses recorded times only: no clock is read.
    """
    if steps_done >= steps_total:
        return 0.0
    if steps_done < 2 or first_wall is None or last_wall is None or last_wall <= first_wall:
        return None
    per_step = (last_wall - first_wall) / (steps_done - 1)
    return per_step * (steps_total - steps_done)
