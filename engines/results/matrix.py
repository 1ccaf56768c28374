"""--matrix: train and infer in every mode on both engines, as the rows of one document.

Each cell (task, mode) is an ordinary comparison (both engines taking turns). Rows give each
engine's steady-state median, its first-step (trace/compile) cost and the number of steps after
which the compiled mode has paid for its compile cost against the same engine's eager mode.
That is how a user checks "static graphs train slower but infer faster" on their machine.
The front end prints the rows as a table (tui.reports.matrix_table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import MODES, RunSettings
from ..stats import breakeven_steps
from .document import SCHEMA

MATRIX_TASKS = ("train", "infer")
# PyTorch has no XLA mode (torch_engine runs torch.compile for "xla"): the cell would repeat
# the compiled one (~26 s of compiling on CPU), so it is skipped for PyTorch.
SKIP = {("pytorch", "xla")}


@dataclass(frozen=True)
class MatrixCell:
    task: str
    mode: str
    engines: dict[str, str]  # name -> implementation, as for Comparison

    def settings(self, base: RunSettings) -> RunSettings:
        return base.with_(task=self.task, mode=self.mode)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.mode}"


def matrix_cells(engines: dict[str, str], modes: tuple[str, ...] = MODES,
                 tasks: tuple[str, ...] = MATRIX_TASKS) -> list[MatrixCell]:
    """The cells to run, tasks outer, modes inner; engines without a mode are left out."""
    cells = []
    for task in tasks:
        for mode in modes:
            sub = {n: impl for n, impl in engines.items() if (n, mode) not in SKIP}
            if sub:
                cells.append(MatrixCell(task, mode, sub))
    return cells


def matrix_rows(cell_docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, engine, mode) from the cells' results documents.

    Each row: task, engine, mode, mode_label (what ran: 'tf.function+XLA'), status,
    median_step_s, iqr_step_s, unstable, first_step_s, steps, speedup_vs_eager (eager median /
    this median), breakeven_steps (int; None = never pays off or unknown; eager rows: None),
    parity_ok (the cell's loss parity, None when one engine only), parity_method ("exact" or
    "statistical": with dropout the verdict is a band, not a step-by-step match).
    """
    rows: list[dict[str, Any]] = []
    for doc in cell_docs:
        st = doc.get("settings") or {}
        parity = (doc.get("comparison") or {}).get("parity") or {}
        par = parity.get("within_tolerance")
        method = "statistical" if parity.get("method") == "statistical" else "exact"
        for n, e in (doc.get("engines") or {}).items():
            s = e.get("summary") or {}
            rows.append({
                "task": st.get("task"), "engine": n, "mode": st.get("mode"),
                "mode_label": (e.get("config") or {}).get("mode", st.get("mode")),
                "status": e.get("status"), "error": e.get("error"),
                "median_step_s": s.get("median_step_s"), "iqr_step_s": s.get("iqr_step_s"),
                "unstable": s.get("unstable"),
                "first_step_s": (e.get("phases_s") or {}).get("first_step"),
                "steps": s.get("steps_done"),
                "parity_ok": par, "parity_method": method,
            })
    eager = {(r["task"], r["engine"]): r for r in rows if r["mode"] == "eager"}
    for r in rows:
        base = eager.get((r["task"], r["engine"]))
        r["speedup_vs_eager"] = None
        r["breakeven_steps"] = None
        if r["mode"] == "eager" or base is None:
            continue
        if base["median_step_s"] and r["median_step_s"]:
            r["speedup_vs_eager"] = base["median_step_s"] / r["median_step_s"]
        if None not in (base["first_step_s"], base["median_step_s"], r["first_step_s"],
                        r["median_step_s"]):
            r["breakeven_steps"] = breakeven_steps(base["first_step_s"], base["median_step_s"],
                                                   r["first_step_s"], r["median_step_s"])
    order = {m: i for i, m in enumerate(MODES)}
    rows.sort(key=lambda r: (MATRIX_TASKS.index(r["task"]) if r["task"] in MATRIX_TASKS else 9,
                             r["engine"], order.get(r["mode"], 9)))
    return rows


def build_matrix_doc(cell_docs: list[dict[str, Any]], base: RunSettings,
                     engines: dict[str, str]) -> dict[str, Any]:
    """The matrix as one document (kind 'matrix'): base settings, rows, every cell's document."""
    first = cell_docs[0] if cell_docs else {}
    return {
        "schema": SCHEMA,
        "kind": "matrix",
        "scenario": first.get("scenario", {}),
        "settings": {**base.to_dict(), "task": "matrix", "mode": "matrix"},
        "environment": first.get("environment", {}),
        "engines": {},
        "comparison": {},
        "matrix": {
            "engines": list(engines),
            "rows": matrix_rows(cell_docs),
            "cells": cell_docs,
            "breakeven_model": "compiled pays off after the smallest n with first_c + (n-1) * "
                               "median_c <= first_e + (n-1) * median_e (same engine, same task)",
            "skipped": [f"{n}/{m}" for n, m in sorted(SKIP) if n in engines],
        },
        "started": first.get("started"),
    }
