"""Two results documents side by side: machine, settings, each engine's figures, the verdicts.

The documents come from files (saved runs, --compare): they are checked by
store.validate_doc first, and every reader here still takes null for any figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..efficiency import flops_rate_text
from .store import engine_label, time_text, verdict_text


@dataclass(frozen=True)
class CompareRow:
    """One line of a side-by-side comparison. `a`/`b` are display strings; `note` says how B
    differs from A where that means something (e.g. 'B 1.20x slower'); `differs` marks rows
    whose values are not equal; `section` groups rows."""

    section: str
    label: str
    a: str
    b: str
    note: str = ""
    differs: bool = False


@dataclass
class RunComparison:
    """The rows of two runs side by side, and why they may not be comparable."""

    title_a: str
    title_b: str
    rows: list[CompareRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _finite(x: Any) -> float | None:
    """`x` as a finite float, or None (a file may hold 10**400 or a string)."""
    if not _is_number(x):
        return None
    try:
        f = float(x)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _ms(x: Any) -> str:
    return f"{x * 1e3:.3g} ms" if _is_number(x) else "-"


def _s(x: Any) -> str:
    return f"{x:.2f} s" if _is_number(x) else "-"


def _num(x: Any, fmt: str = ".4g") -> str:
    return format(x, fmt) if _is_number(x) else "-"


def _value(x: Any, missing: str = "?") -> str:
    return missing if x is None else str(x)


def _ratio_note(a: Any, b: Any, more: str, less: str) -> str:
    """How B compares to A: 'B 1.23x <more>' / 'B 1.10x <less>' / 'same'."""
    if not _is_number(a) or not _is_number(b) or a <= 0 or b <= 0:
        return ""
    r = b / a
    if not 0 < r < math.inf:  # 1e-300 against 1e300: no ratio to speak of
        return ""
    if abs(r - 1) < 0.005:
        return "same"
    return f"B {r:.2f}x {more}" if r > 1 else f"B {1 / r:.2f}x {less}"


def _time_note(a: Any, b: Any) -> str:
    """How B's time compares to A's: 'B 1.23x slower' / 'B 1.10x faster' / 'same'."""
    return _ratio_note(a, b, "slower", "faster")


def _doc_title(doc: dict[str, Any]) -> str:
    settings = doc.get("settings") or {}
    env = doc.get("environment") or {}
    return (f"{_value((doc.get('scenario') or {}).get('name'))} "
            f"{_value(settings.get('task'))}/{_value(settings.get('mode'))} "
            f"{time_text(doc.get('started'), '%Y-%m-%d %H:%M')} on {_value(env.get('cpu'))}")


def _versions(doc: dict[str, Any]) -> dict[str, Any]:
    return ((doc.get("environment") or {}).get("versions")) or {}


def _gpus(env: dict[str, Any]) -> str:
    return ", ".join(g.get("name") or "?" for g in env.get("gpus") or []) or "none"


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> RunComparison:
    """Two results documents side by side (for instance the same scenario on two machines).

    Rows: machine and versions, settings, each engine's figures, the verdicts; warnings where
    the two runs are not comparable (different scenario, task, mode, batch, threads...).
    """
    out = RunComparison(_doc_title(a), _doc_title(b))
    rows = out.rows

    def row(section: str, label: str, va: str, vb: str, note: str = "") -> None:
        rows.append(CompareRow(section, label, va, vb, note, va != vb))

    ea, eb = a.get("environment") or {}, b.get("environment") or {}
    row("machine", "started", time_text(a.get("started")), time_text(b.get("started")))
    for key, label in (("cpu", "CPU"), ("cpu_count", "cores")):
        row("machine", label, _value(ea.get(key)), _value(eb.get(key)))
    row("machine", "GPUs", _gpus(ea), _gpus(eb))
    for key in ("platform", "python"):
        row("machine", key, _value(ea.get(key)), _value(eb.get(key)))
    va, vb = _versions(a), _versions(b)
    for pkg in ("torch", "tensorflow", "keras", "numpy"):
        if pkg in va or pkg in vb:
            row("machine", pkg, str(va.get(pkg) or "-"), str(vb.get(pkg) or "-"))

    if a.get("kind") == "matrix" or b.get("kind") == "matrix":
        _compare_matrix(a, b, out)
        return out

    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    scen_a, scen_b = a.get("scenario") or {}, b.get("scenario") or {}
    row("settings", "scenario", _value(scen_a.get("name")), _value(scen_b.get("name")))
    for key in ("task", "mode", "device", "schedule", "threads", "batch_size", "steps",
                "warmup_steps", "isolation"):
        row("settings", key.replace("_", " "), _value(sa.get(key)), _value(sb.get(key)))
    if "precision" in sa or "precision" in sb:  # runs saved before precision modes: fp32
        row("settings", "precision", _value(sa.get("precision"), "fp32"),
            _value(sb.get("precision"), "fp32"))
    # Shown when either run used data-parallel replicas (runs saved before them: one worker).
    if any(isinstance(w, int) and w > 1 for w in (sa.get("workers"), sb.get("workers"))):
        row("settings", "workers", _value(sa.get("workers"), "1"), _value(sb.get("workers"), "1"))
    ia, ib = sa.get("input"), sb.get("input")
    if _input_setting(ia) != "memory" or _input_setting(ib) != "memory":  # a pipeline fed one
        row("settings", "input", _input_setting(ia), _input_setting(ib))
    if scen_a.get("name") != scen_b.get("name"):
        out.warnings.append(f"different scenarios ({scen_a.get('name')} vs {scen_b.get('name')})"
                            ": the figures measure different work")
    elif _spec(scen_a) != _spec(scen_b):
        out.warnings.append(f"scenario {scen_a.get('name')!r} is defined differently in the two "
                            "runs (model, data or training): not the same work")
    if sa.get("precision", "fp32") != sb.get("precision", "fp32"):
        out.warnings.append(f"precision differs ({sa.get('precision', 'fp32')} vs "
                            f"{sb.get('precision', 'fp32')}): changes speed and the numbers")
    for key in ("task", "mode", "device", "batch_size", "threads", "schedule"):
        if sa.get(key) != sb.get(key):
            out.warnings.append(f"{key.replace('_', ' ')} differs ({sa.get(key)} vs "
                                f"{sb.get(key)}): changes speed, compare with care")

    engines_a, engines_b = a.get("engines") or {}, b.get("engines") or {}
    for n in dict.fromkeys([*engines_a, *engines_b]):
        _compare_engine(engine_label(n), engines_a.get(n) or {}, engines_b.get(n) or {}, row)
    ca, cb = a.get("comparison") or {}, b.get("comparison") or {}
    row("verdict", "speed-up", verdict_text(a), verdict_text(b))
    row("verdict", "loss parity", _parity_text(ca.get("parity") or {}),
        _parity_text(cb.get("parity") or {}))
    for which, doc in (("A", a), ("B", b)):
        for w in (doc.get("fairness") or {}).get("warnings") or []:
            if w.get("level") == "warning":
                out.warnings.append(f"{which}: {w.get('text')}")
    return out


def _compare_engine(sec: str, xa: dict[str, Any], xb: dict[str, Any], row) -> None:
    """One engine's rows: status, step-time figures, first step, import, final loss, mode."""
    su, sv = xa.get("summary") or {}, xb.get("summary") or {}
    pa, pb = xa.get("phases_s") or {}, xb.get("phases_s") or {}
    row(sec, "status", _value(xa.get("status"), "-"), _value(xb.get("status"), "-"))
    row(sec, "median step", _ms(su.get("median_step_s")), _ms(sv.get("median_step_s")),
        _time_note(su.get("median_step_s"), sv.get("median_step_s")))
    row(sec, "IQR", _ms(su.get("iqr_step_s")), _ms(sv.get("iqr_step_s")))
    row(sec, "stable", _stable_text(su), _stable_text(sv))
    row(sec, "samples/s", _num(su.get("samples_per_s"), ".0f"),
        _num(sv.get("samples_per_s"), ".0f"))
    row(sec, "first step", _ms(pa.get("first_step")), _ms(pb.get("first_step")),
        _time_note(pa.get("first_step"), pb.get("first_step")))
    row(sec, "import", _s(pa.get("import")), _s(pb.get("import")))
    row(sec, "final loss", _num(su.get("final_loss"), ".5g"), _num(sv.get("final_loss"), ".5g"))
    row(sec, "mode", _value((xa.get("config") or {}).get("mode"), "-"),
        _value((xb.get("config") or {}).get("mode"), "-"))
    fa, fb = _figures(xa, "efficiency"), _figures(xb, "efficiency")
    if fa or fb:  # runs saved before the efficiency block have none
        row(sec, "achieved", flops_rate_text(fa.get("achieved_flops")),
            flops_rate_text(fb.get("achieved_flops")),
            _ratio_note(fa.get("achieved_flops"), fb.get("achieved_flops"), "higher", "lower"))
        row(sec, "share of peak", _share_text(fa), _share_text(fb))
    na, nb = _mapping(xa.get("input")), _mapping(xb.get("input"))
    if na or nb:  # fed by an input pipeline on either side
        row(sec, "input wait", _wait_text(na), _wait_text(nb))
        row(sec, "first batch", _s(na.get("first_batch_s")) if na else "-",
            _s(nb.get("first_batch_s")) if nb else "-")
    ga, gb = _figures(xa, "energy"), _figures(xb, "energy")
    if ga or gb:
        row(sec, "energy/sample", _energy_text(ga), _energy_text(gb),
            _ratio_note(ga.get("per_sample_j"), gb.get("per_sample_j"), "more", "less"))


def _mapping(x: Any) -> dict[str, Any]:
    """`x` when it is a dict, else {} (a damaged file may hold anything there)."""
    return x if isinstance(x, dict) else {}


def _input_setting(i: Any) -> str:
    """'native, workers auto, prefetch auto' ('memory' for batches in memory, or a run
    saved before input pipelines)."""
    if not i:
        return "memory"
    if not isinstance(i, dict):
        return _value(i)
    if i.get("pipeline") in (None, "memory"):
        return "memory"
    return (f"{_value(i.get('pipeline'))}, workers {_value(i.get('workers'))}, prefetch "
            f"{_value(i.get('prefetch'))}")


def _wait_text(i: dict[str, Any]) -> str:
    """'42% (input-bound)': the share of steady step time spent waiting for input."""
    share = i.get("wait_share")
    if not _is_number(share):
        return "-"
    return f"{share:.0%}" + (" (input-bound)" if i.get("input_bound") else "")


_FIGURES = ("achieved_flops", "peak_flops", "share_of_peak", "per_sample_j", "avg_power_w")


def _figures(engine: dict[str, Any], key: str) -> dict[str, float | None]:
    """The numbers of an engine's `key` block that the comparison shows, each a finite float
    or None; {} when the document has no such block."""
    block = engine.get(key)
    if not isinstance(block, dict):
        return {}
    return {k: _finite(block.get(k)) for k in _FIGURES}


def _share_text(e: dict[str, Any]) -> str:
    """'92% of measured peak (410 GFLOP/s)', or '-'."""
    share = e.get("share_of_peak")
    if share is None:
        return "-"
    return f"{share:.0%} of measured peak ({flops_rate_text(e.get('peak_flops'))})"


def _energy_text(e: dict[str, Any]) -> str:
    """'1.2 mJ (212 W)', or 'n/a'."""
    j = e.get("per_sample_j")
    if j is None:
        return "n/a"
    text = f"{j * 1e3:.3g} mJ" if j < 1 else f"{j:.3g} J"
    w = e.get("avg_power_w")
    return text + (f" ({w:.0f} W)" if w is not None else "")


def _spec(scen: dict[str, Any]) -> tuple:
    return (json.dumps(scen.get("data"), sort_keys=True), json.dumps(scen.get("layers")),
            json.dumps(scen.get("train"), sort_keys=True))


def _stable_text(s: dict[str, Any]) -> str:
    if s.get("unstable") is None:
        return "-"
    rel = s.get("iqr_over_median")
    median = s.get("median_step_s")
    if rel is None and _is_number(median) and median > 0:
        rel = (s.get("iqr_step_s") or 0) / median
    tail = f" (IQR {rel:.0%})" if _is_number(rel) else ""
    return ("UNSTABLE" if s["unstable"] else "yes") + tail


def _parity_text(p: dict[str, Any]) -> str:
    if not p.get("steps_compared"):
        return "-"
    rel = p.get("max_rel_loss_diff")
    if p.get("method") == "statistical":  # dropout: a band on moving medians, not a match
        verdict = "IN BAND" if p.get("within_tolerance") else "OUT OF BAND"
        return (f"{verdict}, statistical ({rel:.1e} of the first loss)" if _is_number(rel)
                else f"{verdict}, statistical")
    verdict = "OK" if p.get("within_tolerance") else "MISMATCH"
    return f"{verdict} ({rel:.1e})" if _is_number(rel) else verdict


def _matrix_rows(doc: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    rows = (doc.get("matrix") or {}).get("rows") or []
    return {(r.get("task"), r.get("engine"), r.get("mode")): r for r in rows}


def _compare_matrix(a: dict[str, Any], b: dict[str, Any], out: RunComparison) -> None:
    if a.get("kind") != b.get("kind"):
        out.warnings.append("one document is a matrix, the other a single run: only the "
                            "machine is compared")
        return
    ra, rb = _matrix_rows(a), _matrix_rows(b)
    for key in dict.fromkeys([*ra, *rb]):
        x, y = ra.get(key, {}), rb.get(key, {})
        sec = f"{_value(key[0])} {engine_label(key[1])} {_value(key[2])}"
        for label, name in (("median step", "median_step_s"), ("first step", "first_step_s")):
            out.rows.append(CompareRow(sec, label, _ms(x.get(name)), _ms(y.get(name)),
                                       _time_note(x.get(name), y.get(name)),
                                       x.get(name) != y.get(name)))
