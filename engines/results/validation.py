"""What a results document read back from a file must hold, checked before anything reads it.

A saved run or an exported file may have been edited by hand, cut short, or written by another
tool. Every field that a screen or a command reads from such a document is checked here, for
its type and its range, so that the readers (the listing, the verdict line, the side-by-side
comparison) can trust what they get. Schema 1 only ever adds fields: a missing field is fine
(every reader has a default), an unknown one is ignored, but a field that is there must be of
its documented type. Null is accepted wherever the writer itself may write it (an unknown
figure, a non-finite number).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# Bounds that no document of ours comes near; beyond them a value is not a measurement but
# damage, and would break or flood whoever shows it.
NAME_MAX = 256  # chars: names, labels, versions, statuses
TEXT_MAX = 100_000  # chars: messages (an engine's error, a fairness warning)
ENGINES_MAX = 16
LIST_MAX = 10_000  # GPUs, warnings, matrix rows and cells
COUNT_MAX = 2**63 - 1
EPOCH_MAX = 253402300799.0  # 9999-12-31 23:59:59 UTC: the last second strftime can show
TREE_DEPTH_MAX = 32  # nesting of the scenario's data, layers and train blocks

Check = Callable[[Any, str], None]


class DocumentError(ValueError):
    """A field of a results document with the wrong type or out of range; `field` is its
    path, e.g. 'engines.pytorch.summary.median_step_s'."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


def shown(value: Any) -> str:
    """A short, printable description of a value found in a file (for an error message)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        # repr() of a huge integer raises ValueError (int_max_str_digits): say how big it is.
        return repr(value) if value.bit_length() <= 64 else \
            f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):  # repr: control characters and surrogates come out escaped
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}… ({len(value)} chars)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, dict):
        return f"an object of {len(value)} key(s)"
    return type(value).__name__


def _key(path: str, key: Any) -> str:
    """`path.key` for an error message; keys that are not plain words are quoted (a key can
    hold anything: control characters, markup, a megabyte of text)."""
    text = str(key)
    if not (text.isidentifier() or text.replace("-", "_").isidentifier()) or len(text) > 40:
        text = repr(text[:40]) + ("…" if len(text) > 40 else "")
    return f"{path}.{text}" if path else text


# -- checks: each takes (value, path) and raises DocumentError --------------------------------

def number(lo: float = -math.inf, hi: float = math.inf, expected: str = "") -> Check:
    """A finite number (int or float, not bool) in [lo, hi]; `expected` says what that range
    means, for the message."""
    expected = expected or _range(lo, hi)

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DocumentError(path, f"expected a number, got {shown(value)}")
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
        if not (math.isfinite(x) and lo <= x <= hi):
            raise DocumentError(path, f"{shown(value)} is out of range ({expected})")
    return check


def integer(lo: int = -COUNT_MAX, hi: int = COUNT_MAX) -> Check:
    """An integer (not bool) in [lo, hi]."""
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DocumentError(path, f"expected an integer, got {shown(value)}")
        if not lo <= value <= hi:
            raise DocumentError(path, f"{shown(value)} is out of range ({_range(lo, hi)})")
    return check


def _range(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f"expected at least {lo:g}" if math.isfinite(lo) else "expected a finite number"
    return f"expected {lo:g} to {hi:g}"


def _is_unicode(value: str) -> bool:
    """False for a string holding a lone surrogate (JSON can escape one: "\\ud800"), which
    no terminal or file can take."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(max_len: int = NAME_MAX) -> Check:
    """A string of at most `max_len` characters, all valid Unicode."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise DocumentError(path, f"expected a string, got {shown(value)}")
        if len(value) > max_len:
            raise DocumentError(path, f"{len(value)} characters (at most {max_len})")
        if not _is_unicode(value):
            raise DocumentError(path, "not valid Unicode text (a lone surrogate)")
    return check


def flag(value: Any, path: str) -> None:
    """true or false."""
    if not isinstance(value, bool):
        raise DocumentError(path, f"expected true or false, got {shown(value)}")


def maybe(inner: Check) -> Check:
    """`inner`, or null."""
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)
    return check


def list_of(item: Check, max_len: int = LIST_MAX, exactly: int | None = None) -> Check:
    """A list of at most `max_len` items (or exactly `exactly`), each passing `item`."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise DocumentError(path, f"expected a list, got {shown(value)}")
        if exactly is not None and len(value) != exactly:
            raise DocumentError(path, f"expected {exactly} items, got {len(value)}")
        if len(value) > max_len:
            raise DocumentError(path, f"{len(value)} items (at most {max_len})")
        for i, x in enumerate(value):
            item(x, f"{path}[{i}]")
    return check


def record(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object whose listed fields, where present, pass their checks (others are ignored)."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise DocumentError(path, f"expected an object, got {shown(value)}")
        for name in required:
            if name not in value:
                raise DocumentError(_key(path, name), "missing")
        for name, field_check in fields.items():
            if name in value:
                field_check(value[name], _key(path, name))
    return check


def mapping(values: Check, max_len: int = LIST_MAX) -> Check:
    """An object of at most `max_len` entries, keys of at most NAME_MAX characters, each
    value passing `values`."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise DocumentError(path, f"expected an object, got {shown(value)}")
        if len(value) > max_len:
            raise DocumentError(path, f"{len(value)} entries (at most {max_len})")
        for k, v in value.items():
            if not isinstance(k, str):
                raise DocumentError(path, f"a key that is not a string: {shown(k)}")
            if len(k) > NAME_MAX or not _is_unicode(k):
                raise DocumentError(_key(path, k), f"a key of {len(k)} characters (at most "
                                                   f"{NAME_MAX}, valid Unicode)")
            values(v, _key(path, k))
    return check


def any_object(value: Any, path: str) -> None:
    """Any object (its content is not read from saved documents)."""
    if not isinstance(value, dict):
        raise DocumentError(path, f"expected an object, got {shown(value)}")


def tree(max_depth: int = TREE_DEPTH_MAX) -> Check:
    """Any JSON value nested at most `max_depth` levels (it is re-serialised to compare)."""
    def check(value: Any, path: str) -> None:
        stack = [(value, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > max_depth:
                raise DocumentError(path, f"nested deeper than {max_depth} levels")
            if isinstance(node, dict):
                stack.extend((v, depth + 1) for v in node.values())
            elif isinstance(node, list):
                stack.extend((v, depth + 1) for v in node)
    return check


def _steps(value: Any, path: str) -> None:
    """An engine's step records: checked without the generic machinery, since a long run has
    hundreds of thousands of them and the listing reads every saved run."""
    if not isinstance(value, list):
        raise DocumentError(path, f"expected a list, got {shown(value)}")
    isfinite = math.isfinite
    for i, rec in enumerate(value):
        if type(rec) is not dict:
            raise DocumentError(f"{path}[{i}]", f"expected an object, got {shown(rec)}")
        step, phase, loss, t = (rec.get("step"), rec.get("phase"), rec.get("loss"),
                                rec.get("time_s"))
        plain = (type(step) is int and 0 <= step <= COUNT_MAX
                 and type(phase) is str and len(phase) <= NAME_MAX
                 and (loss is None or (type(loss) is float and isfinite(loss)))
                 and (t is None or (type(t) is float and isfinite(t) and t >= 0.0))
                 and "outlier" not in rec)
        if not plain:  # the exact reason, or an unusual but valid record
            _step_slowly(rec, f"{path}[{i}]")


def one_of(*values: str) -> Check:
    """One of the given strings."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str) or value not in values:
            raise DocumentError(path, f"expected {' or '.join(map(repr, values))}, got "
                                      f"{shown(value)}")
    return check


NAME = text()
MESSAGE = text(TEXT_MAX)
DURATION = number(0.0)  # seconds
COUNT = integer(0)
FRACTION = number(0.0)  # relative differences, ratios, tolerances
_step_slowly = record({
    "step": integer(0), "phase": NAME, "loss": maybe(number()), "time_s": maybe(DURATION),
    "outlier": maybe(flag), "turn": maybe(integer(0)),
}, required=("step",))

SUMMARY = record({
    **{k: maybe(DURATION) for k in ("median_step_s", "iqr_step_s", "q1_step_s", "q3_step_s",
                                    "p50_step_s", "p90_step_s", "p99_step_s", "mean_step_s")},
    "samples_per_s": maybe(number(0.0)), "steady_steps": maybe(COUNT), "steps_done": maybe(COUNT),
    "outlier_steps": maybe(COUNT), "unstable": maybe(flag), "iqr_over_median": maybe(FRACTION),
    "unstable_threshold": maybe(FRACTION), "final_loss": maybe(number()),
})

ENGINE = record({
    "status": NAME, "error": maybe(MESSAGE), "implementation": maybe(NAME),
    "phases_s": maybe(mapping(maybe(DURATION), ENGINES_MAX * 4)),
    "versions": maybe(any_object), "config": maybe(record({"mode": maybe(NAME)})),
    "memory": maybe(any_object), "steps": maybe(_steps), "summary": maybe(SUMMARY),
    # Blocks added later; their figures are read (diff.py), so typed like the others.
    "efficiency": maybe(record({
        **{k: maybe(number(0.0)) for k in ("flops_per_step", "achieved_flops", "peak_flops",
                                           "share_of_peak", "best_peak_flops",
                                           "share_of_best_peak", "datasheet_peak_flops",
                                           "share_of_datasheet_peak")},
        **{k: maybe(MESSAGE) for k in ("peak_source", "share_refers_to", "convention",
                                       "datasheet_model", "best_peak_engine")},
    })),
    "energy": maybe(record({
        **{k: maybe(number(0.0)) for k in ("joules", "seconds", "per_step_j", "per_sample_j",
                                           "avg_power_w")},
        "steps": maybe(COUNT),
        **{k: maybe(MESSAGE) for k in ("source", "scope", "reason")},
    })),
    "evaluations": maybe(list_of(record({
        "step": maybe(COUNT), "loss": maybe(number()), "accuracy": maybe(number(0.0, 1.0)),
        "time_s": maybe(DURATION)}))),
})

SPEEDUP = record({
    "faster": NAME, "slower": maybe(NAME), "ratio": FRACTION,
    "ci95": maybe(list_of(maybe(number()), exactly=2)),
    "unstable": maybe(flag), "significant": maybe(flag),
    "medians_s": maybe(mapping(maybe(DURATION), ENGINES_MAX)),
    "samples": maybe(mapping(maybe(COUNT), ENGINES_MAX)),
    # Paired turns (added later).
    "paired": maybe(flag), "pairs": maybe(COUNT), "pair_ratios": maybe(list_of(maybe(number()))),
    "half_width": maybe(FRACTION), "doubts": maybe(list_of(MESSAGE)),
    "confident": maybe(flag), "confidence_pct": maybe(FRACTION), "method": maybe(MESSAGE),
    "until_confident": maybe(any_object), "calibration": maybe(any_object),
    "drift": maybe(any_object),
}, required=("faster", "ratio"))

PARITY = record({
    "steps_compared": maybe(COUNT), "early_steps": maybe(COUNT),
    **{k: maybe(FRACTION) for k in ("max_abs_loss_diff", "max_rel_loss_diff", "tolerance",
                                    "early_max_rel_loss_diff", "early_tolerance")},
    "within_tolerance": maybe(flag),
})

SETTINGS = record({
    **{k: maybe(NAME) for k in ("task", "mode", "schedule", "isolation", "device", "dtype",
                                "precision", "scale_batch")},
    **{k: maybe(COUNT) for k in ("steps", "warmup_steps", "batch_size", "threads", "gpu",
                                 "workers")},
    "cudnn_autotune": maybe(flag), "measure_peak": maybe(flag),
    "seed": maybe(integer()), "slice_s": maybe(DURATION),
})

ENVIRONMENT = record({
    "python": maybe(NAME), "platform": maybe(NAME), "cpu": maybe(NAME),
    "cpu_count": maybe(COUNT),
    "gpus": maybe(list_of(record({"name": maybe(NAME)}), 256)),
    "versions": maybe(mapping(maybe(NAME))),
})

SCENARIO = record({
    "name": maybe(NAME), "description": maybe(MESSAGE),
    "data": maybe(tree()), "layers": maybe(tree()), "train": maybe(tree()),
})

FAIRNESS = record({
    "warnings": maybe(list_of(record({"level": maybe(NAME), "key": maybe(NAME),
                                      "text": maybe(MESSAGE)}))),
})

REPEATS = record({"count": maybe(integer(1))})

# What every run document (a single run, or one cell of a matrix) may hold.
_RUN_FIELDS: dict[str, Check] = {
    "kind": one_of("run"),
    "scenario": SCENARIO, "settings": SETTINGS, "environment": maybe(ENVIRONMENT),
    "engines": mapping(ENGINE, ENGINES_MAX),
    "comparison": maybe(record({"parity": maybe(PARITY), "speedup": maybe(SPEEDUP),
                                "output_parity": maybe(any_object),
                                "stability": maybe(any_object)})),
    "fairness": maybe(FAIRNESS), "repeats": maybe(REPEATS),
    "order": maybe(list_of(NAME, ENGINES_MAX)),
    "started": maybe(number(0.0, EPOCH_MAX, "expected seconds since 1970, before the year "
                                            "10000")), "telemetry": maybe(any_object),
}
RUN = record(_RUN_FIELDS)

MATRIX_ROW = record({
    "task": maybe(NAME), "engine": maybe(NAME), "mode": maybe(NAME), "mode_label": maybe(NAME),
    "status": maybe(NAME), "error": maybe(MESSAGE),
    **{k: maybe(DURATION) for k in ("median_step_s", "iqr_step_s", "first_step_s")},
    "unstable": maybe(flag), "steps": maybe(COUNT), "speedup_vs_eager": maybe(FRACTION),
    "breakeven_steps": maybe(COUNT), "parity_ok": maybe(flag),
})

MATRIX = record({
    **{k: v for k, v in _RUN_FIELDS.items() if k != "engines"},
    "kind": one_of("matrix"),
    "engines": maybe(mapping(ENGINE, ENGINES_MAX)),
    "matrix": record({"engines": maybe(list_of(NAME, ENGINES_MAX)),
                      "rows": maybe(list_of(MATRIX_ROW)),
                      "cells": maybe(list_of(RUN, 64))}),
})


def check_document(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """Check every field the readers use in a 'run' or 'matrix' document; returns `doc`, or
    raises DocumentError naming the first bad field."""
    (MATRIX if kind == "matrix" else RUN)(doc, "")
    return doc
