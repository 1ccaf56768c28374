"""After a run's files were written (engines.results.finish): keep the results when a write
failed, and say where everything went. Shared by the headless command line, the dashboard and
--snapshot. No Textual.

A run's results are never lost to a file that could not be written: when the export (or the
snapshot) fails and the run is not already in the saved runs (it was cancelled, or --no-save),
it is saved there now, and failing that in the system's temporary folder; the message names
the file.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.results.document import write_json, write_text_atomically
from engines.results.finish import RunEnd
from engines.results.store import save_run

#: The snapshot's writer: the same atomic write as the results (tests replace it here).
write_atomically = write_text_atomically


@dataclass(frozen=True)
class Kept:
    """Where the results of a run whose export failed are now (None: nowhere, and why)."""

    path: Path | None
    error: Exception | None = None


def keep_results(doc: dict[str, Any], saved: Path | None, runs_folder: Path) -> Kept:
    """The results' file: the saved run if there is one, else a new one in `runs_folder`,
    else one in the temporary folder."""
    if saved is not None:
        return Kept(saved)
    try:
        return Kept(save_run(doc, runs_folder))
    except (OSError, ValueError) as err:
        first = err
    try:
        folder = Path(tempfile.mkdtemp(prefix="fwcompare-results-"))
        return Kept(write_json(doc, folder / "results.json"))
    except (OSError, ValueError):
        return Kept(None, first)


def why(err: Exception) -> str:
    """An OS error as its reason ('Permission denied'), anything else with its type."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}"


def kept_text(kept: Kept) -> str:
    """'the results are in ...' (or that they could not be kept anywhere)."""
    if kept.path is not None:
        return f"the results are kept in {kept.path}"
    return f"the results could not be kept anywhere either ({why(kept.error)})"


def failed_write_text(what: str, path: str | Path, err: Exception, kept: Kept) -> str:
    """'could not write X: reason; the results are kept in Y'."""
    return f"could not write {what} {path}: {why(err)}; {kept_text(kept)}"


def export_failure(end: RunEnd, export_path: str | Path, runs_folder: Path) -> str | None:
    """The message for a failed export (keeping the results first), or None if it did not
    fail."""
    if end.export_error is None:
        return None
    kept = keep_results(end.doc, end.saved, runs_folder)
    return failed_write_text("the export", export_path, end.export_error, kept)
