"""Saved runs: every finished run's results JSON in one folder; read them back; list them.

The folder is passed in (the app and the CLI use `tui.paths.runs_dir()`), so this module stays
UI-free. Files are written atomically (see document.write_json). A file is read only when it is
a regular file (never a FIFO, a device or a directory, so a symlink to /dev/zero or /proc/kmsg
cannot block or flood the reader), at most MAX_FILE_BYTES of it, and its document is checked
field by field (results.validation) before anything reads it. Listing never raises for a bad
file: it is skipped with a warning naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.loader import file_kind

from ..registry import ENGINE_LABELS
from .document import SCHEMA, write_json
from .validation import DocumentError, check_document, shown

MAX_FILE_BYTES = 256 * 2**20  # larger files are not ours (or not sane): skipped
KINDS = ("run", "matrix")
_READ_CHUNK = 2**20


class RunFileError(ValueError):
    """A file that is not a readable fwcompare results document."""


def engine_label(name: Any) -> str:
    """'PyTorch' for 'pytorch'; an unknown engine name as it is."""
    return ENGINE_LABELS.get(name, str(name))


def time_text(seconds: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch seconds as local time, or '?' when there is no time or it cannot be shown."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return "?"
    try:
        return time.strftime(fmt, time.localtime(seconds))
    except (OverflowError, OSError, ValueError):  # beyond the platform's time_t, or NaN
        return "?"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")[:40] or "run"


def run_filename(doc: dict[str, Any]) -> str:
    """A sortable, unique-enough file name: 20250101-120000-mlp-train-eager-<pid><ms>.json."""
    stamp = time_text(doc.get("started"), "%Y%m%d-%H%M%S")
    if stamp == "?":  # not started, or a time that cannot be shown: the time of saving
        stamp = time_text(time.time(), "%Y%m%d-%H%M%S")
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
    """Return `doc` when it is one of our results documents and every field a reader uses has
    its documented type and range, else raise RunFileError naming `source` and the field."""
    where = f"{source}: " if source else ""
    if not isinstance(doc, dict):
        raise RunFileError(f"{where}not a results document (top level is "
                           f"{type(doc).__name__})")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise RunFileError(f"{where}not a fwcompare results document (no schema number)")
    if schema > SCHEMA:
        raise RunFileError(f"{where}written by a newer fwcompare (schema {shown(schema)}; "
                           f"this version reads up to {SCHEMA})")
    kind = doc.get("kind", "run")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RunFileError(f"{where}unknown kind {shown(kind)}")
    if kind == "run":
        if not isinstance(doc.get("engines"), dict) or not isinstance(doc.get("settings"), dict):
            raise RunFileError(f"{where}not a fwcompare results document (no engines/settings)")
    elif not isinstance(doc.get("matrix"), dict):
        raise RunFileError(f"{where}matrix document without a matrix")
    try:
        return check_document(doc, kind)
    except DocumentError as err:
        raise RunFileError(f"{where}{err}") from None


def _finite_float(text: str) -> float | None:
    """A JSON number; one too large for a float (1e400) is read as null, like NaN."""
    x = float(text)
    return x if math.isfinite(x) else None


def parse_document(data: bytes, source: str = "") -> Any:
    """The JSON value in `data` (UTF-8, a leading byte-order mark allowed). NaN and Infinity,
    which our writer never emits, are read as null, as the writer writes them."""
    where = f"{source}: " if source else ""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RunFileError(f"{where}not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise RunFileError(f"{where}empty file, not a results document")
    try:
        return json.loads(text, parse_constant=lambda _: None, parse_float=_finite_float)
    except RecursionError:
        raise RunFileError(f"{where}corrupt JSON (nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, or an integer of thousands of digits
        raise RunFileError(f"{where}corrupt JSON ({str(err).splitlines()[0][:120]})") from None


def read_file_capped(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` when it is a regular file of at most `limit` bytes (by default
    MAX_FILE_BYTES).

    Never blocks: what is not a regular file is refused before it is opened (opening a FIFO
    waits for a writer, a device may never end); the file is opened non-blocking and checked
    again (it may have been swapped since), and at most `limit` + 1 bytes are read, since a
    file's size can lie (/proc files say 0) or grow while it is read.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    shown_path = _path_text(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise RunFileError(f"{shown_path}: {file_kind(st.st_mode)}, not a results file")
        if st.st_size > limit:
            raise RunFileError(f"{shown_path}: too large ({st.st_size / 2**20:.0f} MiB) for a "
                               "results file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise RunFileError(f"{shown_path}: cannot read ({err.strerror or err})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunFileError(f"{shown_path}: not a regular file, not a results file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise RunFileError(f"{shown_path}: larger than {limit / 2**20:.0f} MiB, not a "
                               "results file")
        return b"".join(chunks)
    except OSError as err:  # EAGAIN from a file that would block, EIO, ...
        raise RunFileError(f"{shown_path}: cannot read ({err.strerror or err})") from None
    finally:
        os.close(fd)


def _path_text(path: Path) -> str:
    """The path for a message, with control characters escaped (a file name is data too)."""
    text = str(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def load_run(path: str | Path) -> dict[str, Any]:
    """Read and validate one results file; RunFileError (naming the file, and the field where
    one is wrong) when it is not one."""
    path = Path(path)
    where = _path_text(path)
    return validate_doc(parse_document(read_file_capped(path), where), where)


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
        """Local start time, or '?'."""
        return time_text(self.started)

    @property
    def title(self) -> str:
        """Short label: 'mlp train/eager cpu'."""
        what = "matrix" if self.kind == "matrix" else f"{self.task}/{self.mode}"
        return f"{self.scenario} {what} {self.device}"


@dataclass
class RunListing:
    """The runs of a folder that could be read, and one warning per file skipped."""

    runs: list[RunInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def host_text(env: dict[str, Any]) -> str:
    """'Intel Xeon ... (2 cores), NVIDIA H100' from a document's environment block."""
    if not env:
        return "?"
    cpu = env.get("cpu") or "?"
    count = env.get("cpu_count")
    text = f"{cpu} ({'?' if count is None else count} cores)"
    gpus = [g.get("name") for g in env.get("gpus") or [] if g.get("name")]
    if gpus:
        text += ", " + ", ".join(gpus)
    return text


def _figure(x: Any, fmt: str = ".2f") -> str:
    return "?" if isinstance(x, bool) or not isinstance(x, (int, float)) else format(x, fmt)


def verdict_text(doc: dict[str, Any]) -> str:
    """One line saying which engine was faster, with the interval, or why there is no verdict."""
    if doc.get("kind") == "matrix":
        return f"matrix of {len((doc.get('matrix') or {}).get('rows') or [])} cells"
    comp = doc.get("comparison") or {}
    sp = comp.get("speedup")
    if not sp:
        bad = [f"{engine_label(n)} {e.get('status')}"
               for n, e in (doc.get("engines") or {}).items() if e.get("status") != "done"]
        return ", ".join(bad) if bad else "no speed-up (one engine)"
    lo, hi = (sp.get("ci95") or [None, None])[:2]
    text = (f"{engine_label(sp.get('faster'))} {_figure(sp.get('ratio'))}x faster "
            f"(95% CI {_figure(lo)}-{_figure(hi)})")
    if sp.get("unstable"):
        text += " unstable"
    if (comp.get("parity") or {}).get("within_tolerance") is False:
        text += " PARITY FAILED"
    return text


def _run_status(doc: dict[str, Any]) -> str:
    statuses = [e.get("status") for e in (doc.get("engines") or {}).values()]
    for worst in ("failed", "unavailable", "cancelled"):
        if worst in statuses:
            return worst
    return "done" if statuses else "?"


def _status(doc: dict[str, Any]) -> str:
    if doc.get("kind") == "matrix":
        cells = (doc.get("matrix") or {}).get("cells") or []
        bad = [c for c in cells if _run_status(c) != "done"]
        return "done" if not bad else f"{len(bad)} cell(s) incomplete"
    return _run_status(doc)


def run_info(path: Path, doc: dict[str, Any]) -> RunInfo:
    """The listing's row for a validated document (see validate_doc)."""
    settings = doc.get("settings") or {}
    engines = tuple(doc.get("engines") or {})
    if doc.get("kind") == "matrix":
        engines = tuple((doc.get("matrix") or {}).get("engines") or engines)
    steps = [(e.get("summary") or {}).get("steps_done")
             for e in (doc.get("engines") or {}).values()]
    started = doc.get("started")
    return RunInfo(
        path=path, kind=doc.get("kind", "run"),
        started=float(started) if isinstance(started, (int, float)) else None,
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
        listing.warnings.append(f"{_path_text(directory)}: cannot list saved runs "
                                f"({err.strerror or err})")
        return listing
    for path in paths:
        try:
            listing.runs.append(run_info(path, load_run(path)))
        except RunFileError as err:
            listing.warnings.append(f"skipped {err}")
        except Exception as err:  # noqa: BLE001 - one odd file never breaks the listing
            listing.warnings.append(f"skipped {_path_text(path)}: {type(err).__name__}: {err}")
    listing.runs.sort(key=lambda r: (r.started or 0.0, r.path.name), reverse=True)
    return listing

