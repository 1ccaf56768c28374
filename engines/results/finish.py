"""The end of a run: build its results document, export it, save it with the saved runs.

One path for every front end: the headless command line and the app's dashboard both call
`finish_run` and read what they show from the document it returns, so the end-of-run figures
(summaries, parity, the bootstrap speed-up) are computed once. Nothing here prints; failures
come back as values, for the caller to word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..run.state import RunState
from .document import build_results, write_json
from .store import save_run


@dataclass(frozen=True)
class RunEnd:
    """What the end of a run produced: the document, and where it went (or why not)."""

    doc: dict[str, Any]
    exported: Path | None = None  # the export file, once written
    export_error: Exception | None = None
    saved: Path | None = None  # the file in the saved-runs folder, once written
    save_error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Every engine finished its steps and the asked-for export was written."""
        return all_done(self.doc) and self.export_error is None


def finish_run(run: RunState | dict[str, Any], *, export_path: str | Path | None = None,
               runs_folder: str | Path | None = None,
               calibration: dict[str, Any] | None = None) -> RunEnd:
    """Build the results of `run` (a RunState, or a document already merged from several
    comparisons), write them atomically to `export_path`, then save them in `runs_folder`.

    Either step is skipped when its path is None. A write that fails is reported in the
    RunEnd, never raised: the results stay on screen whatever happens to the files.
    `calibration`: this machine's last calibration figures (engines.results.calibration),
    recorded with the speed-up so a reader knows how far its interval can be trusted here.
    """
    doc = build_results(run) if isinstance(run, RunState) else run
    speedup = (doc.get("comparison") or {}).get("speedup")
    if isinstance(speedup, dict) and calibration is not None:
        speedup["calibration"] = calibration
    exported = saved = None
    export_error = save_error = None
    if export_path is not None:
        try:
            exported = write_json(doc, export_path)
        except (OSError, ValueError) as err:
            export_error = err
    if runs_folder is not None:
        try:
            saved = save_run(doc, runs_folder)
        except (OSError, ValueError) as err:
            save_error = err
    return RunEnd(doc, exported, export_error, saved, save_error)


def all_done(doc: dict[str, Any]) -> bool:
    """True when every engine of every comparison in `doc` finished with status 'done'."""
    if doc.get("kind") == "matrix":
        return all(all_done(c) for c in doc["matrix"]["cells"])
    ok = all(e.get("status") == "done" for e in doc.get("engines", {}).values())
    # An infer run is two comparisons (batch 1 and the scenario's batch): both must be done.
    for per_engine in ((doc.get("inference") or {}).get("runs") or {}).values():
        ok = ok and all(r.get("status") == "done" for r in per_engine.values())
    return ok
