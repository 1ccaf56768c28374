"""The headless report of a run fed by input pipelines: first batch, the loader alone, the
steps' input wait with its verdict, and the --loader-sweep table. Plain text, no Textual."""

from __future__ import annotations

from typing import Any

from engines.registry import engine_label
from engines.results.fairness import pipeline_text


def _rate(x: Any) -> str:
    return f"{x:,.0f}" if isinstance(x, (int, float)) else "-"


def _secs(x: Any) -> str:
    return f"{x:.3g} s" if isinstance(x, (int, float)) else "-"


def input_lines(doc: dict[str, Any]) -> list[str]:
    """One line per engine with an `input` block, then the sweep table; [] without."""
    settings = doc.get("settings") or {}
    inputs = settings.get("input") if isinstance(settings, dict) else None
    pipeline = inputs.get("pipeline", "memory") if isinstance(inputs, dict) else "memory"
    engines = doc.get("engines") or {}
    lines = []
    for name, e in engines.items():
        block = e.get("input") if isinstance(e, dict) else None
        if not block or not isinstance(block, dict):
            continue
        share = block.get("wait_share")
        verdict = "-" if share is None else (
            f"waited {share:.0%} of its steady step time: "
            + ("input-bound" if block.get("input_bound") else "not input-bound"))
        model = block.get("model_samples_per_s")
        against = "" if not isinstance(model, (int, float)) else \
            f" (the step's own compute: {_rate(model)})"
        lines.append(f"input ({pipeline}) {engine_label(name)}: first batch "
                     f"{_secs(block.get('first_batch_s'))}, loader alone "
                     f"{_rate(block.get('loader_samples_per_s'))} samples/s{against}, {verdict}")
        config = block.get("config")
        lines.append(f"  {pipeline_text(config if isinstance(config, dict) else {})}")
    sweep = doc.get("loader_sweep")
    sweep = sweep if isinstance(sweep, dict) else {}
    rows: dict[Any, dict[str, Any]] = {}
    for name, runs in sweep.items():
        for r in runs if isinstance(runs, list) else []:
            if isinstance(r, dict):
                rows.setdefault(str(r.get("workers")), {})[name] = r
    if rows:
        names = list(sweep)
        head = "workers" + "".join(f"  {engine_label(n) + ' samples/s':>22}  {'first batch':>11}"
                                   for n in names)
        lines += ["loader sweep (the loader alone, no model):", head]
        for w in sorted(rows, key=lambda v: (not v.isdigit(), len(v), v)):
            cells = "".join(f"  {_rate(rows[w].get(n, {}).get('samples_per_s')):>22}  "
                            f"{_secs(rows[w].get(n, {}).get('first_batch_s')):>11}"
                            for n in names)
            lines.append(f"{str(w):>7}{cells}")
    return lines
