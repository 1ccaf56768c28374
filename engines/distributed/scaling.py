"""Scaling runs (--scaling 1,2,4): the same scenario at each worker count, and its figures.

Efficiency as HPE's DLBS defines it, from samples/s measured on every replica and added up
(not rank 0's times the replica count): strong scaling keeps the global batch (each replica
takes 1/N of it), efficiency t1 / (N * tN); weak scaling keeps the per-replica batch (the
global batch grows N-fold), efficiency t1 / tN. In samples/s both are rate_N / (N * rate_1):
which one a run measures is its `scale_batch`.
"""

from __future__ import annotations

from typing import Any

from ..settings import RunSettings


def scaled_settings(base: RunSettings, workers: int) -> RunSettings:
    """The settings at `workers` replicas: base.batch_size is the global batch (scale_batch
    global) or each replica's batch (per-replica)."""
    batch = base.batch_size * workers if base.scale_batch == "per-replica" else base.batch_size
    return base.with_(workers=workers, batch_size=batch)


def global_rate(engine: dict[str, Any]) -> float | None:
    """An engine's global samples/s: its replicas' own figures added up, or its summary's."""
    block = engine.get("distributed") or {}
    rate = block.get("samples_per_s")
    if rate is None:
        rate = (engine.get("summary") or {}).get("samples_per_s")
    return rate if isinstance(rate, (int, float)) and rate > 0 else None


def scaling_block(docs: dict[int, dict[str, Any]], scale_batch: str) -> dict[str, Any]:
    """The `scaling` block of a --scaling export: per engine, one row per worker count."""
    counts = sorted(docs)
    names = list(docs[counts[0]].get("engines") or {})
    out: dict[str, Any] = {"scale_batch": scale_batch, "workers": counts}
    for name in names:
        base = global_rate(docs[counts[0]]["engines"][name]) if counts[0] == 1 else None
        rows = []
        for n in counts:
            engine = (docs[n].get("engines") or {}).get(name) or {}
            rate = global_rate(engine)
            eff = rate / (n * base) if rate and base else None
            block = engine.get("distributed") or {}
            reps = block.get("per_replica") or []
            medians = [r["median_step_s"] for r in reps if r.get("median_step_s")]
            p95s = [r["p95_step_s"] for r in reps if r.get("p95_step_s")]
            summary = engine.get("summary") or {}
            rows.append({
                "workers": n,
                "status": engine.get("status"),
                "global_batch": (docs[n].get("settings") or {}).get("batch_size"),
                "samples_per_s": rate,
                "ideal_samples_per_s": n * base if base else None,
                "strong_eff": eff if scale_batch == "global" else None,
                "weak_eff": eff if scale_batch == "per-replica" else None,
                # The slowest replica's median and p95 (one process: the engine's own).
                "replica_p50_step_s": max(medians) if medians else summary.get("median_step_s"),
                "replica_p95_step_s": max(p95s) if p95s else None,
                "allreduce_s": block.get("allreduce_s"),
                "allreduce_share": block.get("allreduce_share"),
            })
        out[name] = rows
    return out


def scaling_document(docs: dict[int, dict[str, Any]], scale_batch: str) -> dict[str, Any]:
    """The export of a --scaling run: the largest worker count's document, with the `scaling`
    block and each worker count's engine summaries under `scaling_runs`."""
    top = dict(docs[max(docs)])
    top["scaling"] = scaling_block(docs, scale_batch)
    top["scaling_runs"] = [
        {"workers": n, "settings": d.get("settings"),
         "engines": {name: {"status": e.get("status"), "error": e.get("error"),
                            "summary": e.get("summary"), "distributed": e.get("distributed")}
                     for name, e in (d.get("engines") or {}).items()}}
        for n, d in sorted(docs.items())]
    return top


def _num(value: Any, fmt: str, scale: float = 1.0, suffix: str = "") -> str:
    """A number formatted, or '-' when there is none."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return format(value * scale, fmt) + suffix if ok else "-"


def scaling_lines(block: dict[str, Any], label: Any = str) -> list[str]:
    """The scaling table as text: per engine and worker count, samples/s against the ideal,
    the efficiency, the slowest replica's p50/p95 step and the all-reduce alone."""
    kind = "strong" if block.get("scale_batch") == "global" else "weak"
    fixed = "fixed global" if kind == "strong" else "fixed per-replica"
    lines = [f"Scaling ({kind}: {fixed} batch; samples/s measured on every replica and "
             "added up; all-reduce timed alone, as a share of the median step)",
             f"{'engine':<12} {'N':>3} {'batch':>6} {'samples/s':>11} {'ideal':>11} "
             f"{kind + ' eff':>10} {'p50 ms':>8} {'p95 ms':>8} {'all-reduce':>17}"]
    for name, rows in block.items():
        if not isinstance(rows, list) or name == "workers":
            continue
        for row in rows:
            reduce = "-" if row.get("allreduce_s") is None else (
                f"{_num(row.get('allreduce_s'), '.2f', 1e3)} ms "
                f"({_num(row.get('allreduce_share'), '.0f', 100, '%')})")
            lines.append(
                f"{str(label(name)):<12} {row['workers']:>3} "
                f"{_num(row.get('global_batch'), '.0f'):>6} "
                f"{_num(row.get('samples_per_s'), ',.0f'):>11} "
                f"{_num(row.get('ideal_samples_per_s'), ',.0f'):>11} "
                f"{_num(row.get(f'{kind}_eff'), '.0f', 100, '%'):>10} "
                f"{_num(row.get('replica_p50_step_s'), '.2f', 1e3):>8} "
                f"{_num(row.get('replica_p95_step_s'), '.2f', 1e3):>8} {reduce:>17}")
    return lines
