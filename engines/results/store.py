"""Saved runs: every finished run's results JSON in one folder; list them; compare two.

The folder is passed in (the app and the CLI use `tui.paths.runs_dir()`), so this module stays
UI-free. Files are written atomically (see results.write_json). Listing never raises for a bad
file: corrupt JSON, a foreign JSON file, an unreadable or oversized file, or a newer schema is
skipped with a warning.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import ENGINE_LABELS
from .document import SCHEMA, write_json

MAX_FILE_BYTES = 256 * 2**20  # larger files are not ours (or not sane): skipped
KINDS = ("run", "matrix")


class RunFileError(ValueError):
    """A file that is not a readable fwcompare results document."""


def _label(name: str) -> str:
    return ENGINE_LABELS.get(name, name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")[:40] or "run"


def run_filename(doc: dict[str, Any]) -> str:
    """A sortable, unique-enough file name: 20250101-120000-mlp-train-eager-<pid><ms>.json."""
    started = doc.get("started") or time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    settings = doc.get("settings") or {}
    scenario = (doc.get("scenario") or {}).get("name", "run")
    kind = doc.get("kind", "run")
    what = "matrix" if kind == "matrix" else f"{settings.get('task', 'train')}-" \
        f"{settings.get('mode', 'eager')}"
    if doc.get("repeats"):
        what += f"-x{doc['repeats'].get('count', '')}"
    suffix = f"{os.getpid() % 100000}{int(time.time() * 1000) % 1000:03d}"
    return f"{stamp}-{_slug(scenario)}-{_slug(what)}-{suffix}.json"


def save_run(doc: dict[str, Any], directory: str | Path) -> Path:
    """Save `doc` (the same JSON as --export) into `directory`, atomically; returns the path."""
    directory = Path(directory)
    path = directory / run_filename(doc)
    n = 1
    while path.exists():
        path = directory / f"{path.stem}-{n}.json"
        n += 1
    return write_json(doc, path)


def validate_doc(doc: Any, source: str = "") -> dict[str, Any]:
    """Return `doc` when it looks like one of our results documents, else raise RunFileError."""
    where = f"{source}: " if source else ""
    if not isinstance(doc, dict):
        raise RunFileError(f"{where}not a results document (top level is "
                           f"{type(doc).__name__})")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise RunFileError(f"{where}not a fwcompare results document (no schema number)")
    if schema > SCHEMA:
        raise RunFileError(f"{where}written by a newer fwcompare (schema {schema}; this "
                           f"version reads up to {SCHEMA})")
    kind = doc.get("kind", "run")
    if kind not in KINDS:
        raise RunFileError(f"{where}unknown kind {kind!r}")
    if kind == "run":
        if not isinstance(doc.get("engines"), dict) or not isinstance(doc.get("settings"), dict):
            raise RunFileError(f"{where}not a fwcompare results document (no engines/settings)")
    elif not isinstance(doc.get("matrix"), dict):
        raise RunFileError(f"{where}matrix document without a matrix")
    if not isinstance(doc.get("scenario", {}), dict):
        raise RunFileError(f"{where}scenario is not an object")
    return doc


def load_run(path: str | Path) -> dict[str, Any]:
    """Read and validate one results file; RunFileError (with the reason) when it is not one."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise RunFileError(f"{path}: cannot read ({err.strerror or err})") from None
    if size > MAX_FILE_BYTES:
        raise RunFileError(f"{path}: too large ({size / 2**20:.0f} MiB) for a results file")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as err:
        raise RunFileError(f"{path}: cannot read ({err.strerror or err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as err:
        raise RunFileError(f"{path}: corrupt JSON ({str(err).splitlines()[0][:120]})") from None
    return validate_doc(doc, str(path))


@dataclass(frozen=True)
class RunInfo:
    """One saved run, as listed (enough for a table row; load_run(path) for the rest)."""

    path: Path
    kind: str  # "run" | "matrix"
    started: float | None  # epoch seconds
    scenario: str
    task: str
    mode: str
    device: str
    schedule: str
    engines: tuple[str, ...]
    host: str  # CPU model and core count, GPUs
    status: str  # "done" when every engine finished its steps, else the worst status
    verdict: str  # one line: "PyTorch 1.51x faster (95% CI 1.50-1.52)" or why not
    steps: int | None
    repeats: int | None = None

    @property
    def started_text(self) -> str:
        if not self.started:
            return "?"
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))

    @property
    def title(self) -> str:
        """Short label: 'mlp train/eager cpu'."""
        what = "matrix" if self.kind == "matrix" else f"{self.task}/{self.mode}"
        return f"{self.scenario} {what} {self.device}"


@dataclass
class RunListing:
    runs: list[RunInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def host_text(env: dict[str, Any]) -> str:
    """'Intel Xeon ... (2 cores), NVIDIA H100' from a document's environment block."""
    if not env:
        return "?"
    cpu = env.get("cpu") or "?"
    text = f"{cpu} ({env.get('cpu_count', '?')} cores)"
    gpus = [g.get("name") for g in env.get("gpus") or [] if g.get("name")]
    if gpus:
        text += ", " + ", ".join(gpus)
    return text


def verdict_text(doc: dict[str, Any]) -> str:
    """One line saying which engine was faster, with the interval, or why there is no verdict."""
    if doc.get("kind") == "matrix":
        return f"matrix of {len((doc.get('matrix') or {}).get('rows', []))} cells"
    comp = doc.get("comparison") or {}
    sp = comp.get("speedup")
    if not sp:
        bad = [f"{_label(n)} {e.get('status')}" for n, e in (doc.get("engines") or {}).items()
               if e.get("status") != "done"]
        return ", ".join(bad) if bad else "no speed-up (one engine)"
    lo, hi = (sp.get("ci95") or [math.nan, math.nan])[:2]
    text = f"{_label(sp['faster'])} {sp['ratio']:.2f}x faster (95% CI {lo:.2f}-{hi:.2f})"
    if sp.get("unstable"):
        text += " unstable"
    if (comp.get("parity") or {}).get("within_tolerance") is False:
        text += " PARITY FAILED"
    return text


def _status(doc: dict[str, Any]) -> str:
    if doc.get("kind") == "matrix":
        cells = (doc.get("matrix") or {}).get("cells") or []
        bad = [c for c in cells if _status(c) != "done"]
        return "done" if not bad else f"{len(bad)} cell(s) incomplete"
    statuses = [e.get("status") for e in (doc.get("engines") or {}).values()]
    for worst in ("failed", "unavailable", "cancelled"):
        if worst in statuses:
            return worst
    return "done" if statuses else "?"


def run_info(path: Path, doc: dict[str, Any]) -> RunInfo:
    settings = doc.get("settings") or {}
    engines = tuple(doc.get("engines") or {})
    if doc.get("kind") == "matrix":
        engines = tuple((doc.get("matrix") or {}).get("engines") or engines)
    steps = [e.get("summary", {}).get("steps_done") for e in (doc.get("engines") or {}).values()]
    return RunInfo(
        path=path, kind=doc.get("kind", "run"),
        started=doc.get("started") if isinstance(doc.get("started"), (int, float)) else None,
        scenario=str((doc.get("scenario") or {}).get("name", "?")),
        task=str(settings.get("task", "?")), mode=str(settings.get("mode", "?")),
        device=str(settings.get("device", "?")), schedule=str(settings.get("schedule", "?")),
        engines=engines, host=host_text(doc.get("environment") or {}), status=_status(doc),
        verdict=verdict_text(doc),
        steps=max((s for s in steps if isinstance(s, int)), default=None),
        repeats=(doc.get("repeats") or {}).get("count"),
    )


def list_runs(directory: str | Path) -> RunListing:
    """Every saved run in `directory`, newest first, plus a warning per file skipped.

    A missing folder is an empty listing. Hidden files (atomic-write temporaries) are ignored.
    """
    listing = RunListing()
    directory = Path(directory)
    try:
        paths = sorted(p for p in directory.iterdir()
                       if p.suffix == ".json" and not p.name.startswith("."))
    except FileNotFoundError:
        return listing
    except OSError as err:
        listing.warnings.append(f"{directory}: cannot list saved runs ({err.strerror or err})")
        return listing
    for path in paths:
        try:
            if not path.is_file():
                raise RunFileError(f"{path}: not a regular file")
            doc = load_run(path)
            listing.runs.append(run_info(path, doc))
        except RunFileError as err:
            listing.warnings.append(f"skipped {err}")
        except Exception as err:  # noqa: BLE001 - one odd file never breaks the listing
            listing.warnings.append(f"skipped {path}: {type(err).__name__}: {err}")
    listing.runs.sort(key=lambda r: (r.started or 0.0, r.path.name), reverse=True)
    return listing


# -- side by side ------------------------------------------------------------------------------

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
    title_a: str
    title_b: str
    rows: list[CompareRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _ms(x: Any) -> str:
    return "-" if not isinstance(x, (int, float)) else f"{x * 1e3:.3g} ms"


def _s(x: Any) -> str:
    return "-" if not isinstance(x, (int, float)) else f"{x:.2f} s"


def _num(x: Any, fmt: str = ".4g") -> str:
    return "-" if not isinstance(x, (int, float)) or isinstance(x, bool) else format(x, fmt)


def _time_note(a: Any, b: Any) -> str:
    """How B's time compares to A's: 'B 1.23x slower' / 'B 1.10x faster' / 'same'."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a <= 0 or b <= 0:
        return ""
    r = b / a
    if abs(r - 1) < 0.005:
        return "same"
    return f"B {r:.2f}x slower" if r > 1 else f"B {1 / r:.2f}x faster"


def _doc_title(doc: dict[str, Any]) -> str:
    settings = doc.get("settings") or {}
    started = doc.get("started")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) \
        if isinstance(started, (int, float)) else "?"
    env = doc.get("environment") or {}
    return (f"{(doc.get('scenario') or {}).get('name', '?')} {settings.get('task', '?')}/"
            f"{settings.get('mode', '?')} {when} on {env.get('cpu', '?')}")


def _versions(doc: dict[str, Any]) -> dict[str, Any]:
    return ((doc.get("environment") or {}).get("versions")) or {}


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
    row("machine", "started", _when(a), _when(b))
    row("machine", "CPU", str(ea.get("cpu", "?")), str(eb.get("cpu", "?")))
    row("machine", "cores", str(ea.get("cpu_count", "?")), str(eb.get("cpu_count", "?")))
    row("machine", "GPUs", ", ".join(g.get("name") or "?" for g in ea.get("gpus") or []) or "none",
        ", ".join(g.get("name") or "?" for g in eb.get("gpus") or []) or "none")
    row("machine", "platform", str(ea.get("platform", "?")), str(eb.get("platform", "?")))
    row("machine", "python", str(ea.get("python", "?")), str(eb.get("python", "?")))
    va, vb = _versions(a), _versions(b)
    for pkg in ("torch", "tensorflow", "keras", "numpy"):
        if pkg in va or pkg in vb:
            row("machine", pkg, str(va.get(pkg) or "-"), str(vb.get(pkg) or "-"))

    if a.get("kind") == "matrix" or b.get("kind") == "matrix":
        _compare_matrix(a, b, out)
        return out

    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    scen_a, scen_b = a.get("scenario") or {}, b.get("scenario") or {}
    row("settings", "scenario", str(scen_a.get("name", "?")), str(scen_b.get("name", "?")))
    for key in ("task", "mode", "device", "schedule", "threads", "batch_size", "steps",
                "warmup_steps", "isolation"):
        row("settings", key.replace("_", " "), str(sa.get(key, "?")), str(sb.get(key, "?")))
    if scen_a.get("name") != scen_b.get("name"):
        out.warnings.append(f"different scenarios ({scen_a.get('name')} vs {scen_b.get('name')})"
                            ": the figures measure different work")
    elif _spec(scen_a) != _spec(scen_b):
        out.warnings.append(f"scenario {scen_a.get('name')!r} is defined differently in the two "
                            "runs (model, data or training): not the same work")
    for key in ("task", "mode", "device", "batch_size", "threads", "schedule"):
        if sa.get(key) != sb.get(key):
            out.warnings.append(f"{key.replace('_', ' ')} differs ({sa.get(key)} vs "
                                f"{sb.get(key)}): changes speed, compare with care")

    names = list(dict.fromkeys([*(a.get("engines") or {}), *(b.get("engines") or {})]))
    for n in names:
        xa = (a.get("engines") or {}).get(n) or {}
        xb = (b.get("engines") or {}).get(n) or {}
        su, sv = xa.get("summary") or {}, xb.get("summary") or {}
        pa, pb = xa.get("phases_s") or {}, xb.get("phases_s") or {}
        sec = _label(n)
        row(sec, "status", str(xa.get("status", "-")), str(xb.get("status", "-")))
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
        row(sec, "mode", str((xa.get("config") or {}).get("mode", "-")),
            str((xb.get("config") or {}).get("mode", "-")))
    ca, cb = a.get("comparison") or {}, b.get("comparison") or {}
    row("verdict", "speed-up", verdict_text(a), verdict_text(b))
    pa_, pb_ = ca.get("parity") or {}, cb.get("parity") or {}
    row("verdict", "loss parity", _parity_text(pa_), _parity_text(pb_))
    for which, doc in (("A", a), ("B", b)):
        for w in (doc.get("fairness") or {}).get("warnings", []):
            if w.get("level") == "warning":
                out.warnings.append(f"{which}: {w.get('text')}")
    return out


def _when(doc: dict[str, Any]) -> str:
    started = doc.get("started")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) \
        if isinstance(started, (int, float)) else "?"


def _spec(scen: dict[str, Any]) -> tuple:
    return (json.dumps(scen.get("data"), sort_keys=True), json.dumps(scen.get("layers")),
            json.dumps(scen.get("train"), sort_keys=True))


def _stable_text(s: dict[str, Any]) -> str:
    if s.get("unstable") is None:
        return "-"
    rel = s.get("iqr_over_median")
    if rel is None and s.get("median_step_s"):
        rel = (s.get("iqr_step_s") or 0) / s["median_step_s"]
    tail = f" (IQR {rel:.0%})" if isinstance(rel, (int, float)) else ""
    return ("UNSTABLE" if s["unstable"] else "yes") + tail


def _parity_text(p: dict[str, Any]) -> str:
    if not p.get("steps_compared"):
        return "-"
    verdict = "OK" if p.get("within_tolerance") else "MISMATCH"
    rel = p.get("max_rel_loss_diff")
    return f"{verdict} ({rel:.1e})" if isinstance(rel, (int, float)) else verdict


def _compare_matrix(a: dict[str, Any], b: dict[str, Any], out: RunComparison) -> None:
    if a.get("kind") != b.get("kind"):
        out.warnings.append("one document is a matrix, the other a single run: only the "
                            "machine is compared")
        return
    ra = {(r["task"], r["engine"], r["mode"]): r for r in (a.get("matrix") or {}).get("rows", [])}
    rb = {(r["task"], r["engine"], r["mode"]): r for r in (b.get("matrix") or {}).get("rows", [])}
    for key in list(dict.fromkeys([*ra, *rb])):
        x, y = ra.get(key, {}), rb.get(key, {})
        sec = f"{key[0]} {_label(key[1])} {key[2]}"
        out.rows.append(CompareRow(sec, "median step", _ms(x.get("median_step_s")),
                                   _ms(y.get("median_step_s")),
                                   _time_note(x.get("median_step_s"), y.get("median_step_s")),
                                   x.get("median_step_s") != y.get("median_step_s")))
        out.rows.append(CompareRow(sec, "first step", _ms(x.get("first_step_s")),
                                   _ms(y.get("first_step_s")),
                                   _time_note(x.get("first_step_s"), y.get("first_step_s")),
                                   x.get("first_step_s") != y.get("first_step_s")))
