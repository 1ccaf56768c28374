"""How a data-parallel engine is described: fairness rows and lines, the compact replica line.

Reads an engine's block of a results document (its `distributed` block, or, in a live run's
light document, the same block still inside its config). Plain data; no framework.
"""

from __future__ import annotations

from typing import Any, Callable


def distributed_of(engine: dict[str, Any]) -> dict[str, Any] | None:
    """The engine's `distributed` block, or None for a one-process engine."""
    block = engine.get("distributed") or (engine.get("config") or {}).get("distributed")
    return block if isinstance(block, dict) else None


def _text(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda d: "?" if d.get(key) is None else str(d.get(key))


# (key, label, value of a distributed block, whether a difference matters for fairness)
DISTRIBUTED_ROWS: list[tuple[str, str, Callable[[dict[str, Any]], str], bool]] = [
    ("replicas", "replicas", _text("replicas"), True),
    ("replica_threads", "threads per replica", _text("threads_per_replica"), True),
    ("replica_batch", "batch per replica", _text("per_replica_batch"), True),
    ("dist_backend", "distributed backend", _text("backend"), False),
    ("dist_strategy", "data-parallel strategy", _text("strategy"), False),
    ("collective", "collective", _text("collective"), False),
]


def distributed_rows(engines: dict[str, Any]) -> list[tuple[str, str, Callable[[str], str],
                                                             bool]]:
    """The fairness rows of a run with replicas (none without): key, label, value by engine
    name, matters."""
    blocks = {n: distributed_of(e) or {} for n, e in engines.items()}
    if not any(blocks.values()):
        return []
    return [(key, label, (lambda n, value=value: value(blocks[n]) if blocks[n] else "1"
                          if key == "replicas" else "?"), matters)
            for key, label, value, matters in DISTRIBUTED_ROWS]


def distributed_measures(doc: dict[str, Any]) -> list[str]:
    """What the run did to keep data-parallel work identical (none without replicas)."""
    settings = doc.get("settings") or {}
    workers = settings.get("workers") or 1
    if workers <= 1:
        return []
    batch = settings.get("batch_size", "?")
    part = batch // workers if isinstance(batch, int) else "?"
    how = ("the global batch fixed (strong scaling)" if settings.get("scale_batch") != "per-replica"
           else "the per-replica batch fixed (weak scaling)")
    return [f"data parallel: {workers} replica processes per engine, each step the global "
            f"batch of {batch} split into {workers} contiguous slices of {part} (the same split "
            f"on both), {how}; weights identical on every replica; gradients averaged over "
            "replicas on both (DDP averages; TensorFlow sums losses scaled by the global "
            "batch); a replica group takes its turn as a whole; ranks on loopback with "
            "OS-picked ports"]


def distributed_warnings(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, text) of each warning about the replicas: unsynchronised batch norm."""
    out = []
    for name, engine in (doc.get("engines") or {}).items():
        block = distributed_of(engine) or {}
        if block.get("batch_norm"):
            out.append(("batch_norm", f"{name}: batch norm is {block['batch_norm']}: each "
                        "replica normalises its own slice, so the losses are not exactly "
                        "comparable with one worker"))
    return out


def replica_line(block: dict[str, Any] | None) -> str | None:
    """One compact line of every replica's median step: 'r0 12.1 ms · r1 12.3 ms'."""
    if not block:
        return None
    reps = block.get("per_replica") or []
    if not any(rep.get("median_step_s") for rep in reps):  # before any steady step
        return (f"{block.get('replicas')} replicas x {block.get('threads_per_replica')} "
                f"thread(s) · {block.get('backend')}")
    parts = []
    for rep in block.get("per_replica") or []:
        median = rep.get("median_step_s")
        parts.append(f"r{rep.get('rank')} " + (f"{median * 1e3:.3g} ms" if median else "…"))
    share = block.get("allreduce_share")
    tail = f" · all-reduce {share:.0%}" if isinstance(share, (int, float)) else ""
    return f"{block.get('replicas')} replicas: " + " · ".join(parts) + tail
