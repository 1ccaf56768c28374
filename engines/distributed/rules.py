"""What a data-parallel run needs: equal contiguous slices, threads per replica, enough cores."""

from __future__ import annotations

import os
from typing import Any

# Collectives (all-reduce) wait this long for a peer before failing: a replica that hangs ends
# its group after this. The rendezvous (every replica imported and connected) gets longer: two
# TensorFlow imports on two busy cores take tens of seconds.
COLLECTIVE_TIMEOUT_S = 20.0
RENDEZVOUS_TIMEOUT_S = 180.0


def replica_refusal(settings: Any) -> str | None:
    """Why these settings cannot run with settings.workers > 1 replicas, or None."""
    n = settings.workers
    if settings.isolation != "process":
        return ("workers: data-parallel replicas are processes; --in-process (thread "
                f"isolation) runs one engine in the app's own process, got workers={n}")
    if settings.task != "train":
        return (f"task: data-parallel replicas train (their gradients are all-reduced); "
                f"--task {settings.task} with workers={n} is not supported: run one worker")
    if settings.batch_size % n:
        return (f"batch_size: {settings.batch_size} does not split into {n} equal replica "
                f"slices (the global batch must be a multiple of workers)")
    if settings.precision == "fp16":
        return ("precision: fp16 (dynamic loss scaling) is not supported with workers > 1; "
                "run fp32, tf32 or bf16")
    if getattr(settings, "input_pipeline", "memory") != "memory":
        return (f"input: data-parallel replicas take their slices of each batch "
                f"from memory; an input pipeline ({settings.input_pipeline}) per replica is "
                f"not built: give --input memory, or run one worker")
    return None


def replica_slice(rank: int, world: int, batch: int) -> slice:
    """Rank `rank`'s contiguous part of a global batch of `batch` samples (equal parts, not
    DistributedSampler's strided rank::world split)."""
    part = batch // world
    return slice(rank * part, (rank + 1) * part)


def threads_per_replica(threads: int, workers: int) -> int:
    """The engine's thread budget split over its replicas (at least one each)."""
    return max(1, threads // workers)


def cores_problem(workers: int, threads: int, cores: int | None = None) -> str | None:
    """Why `workers` replicas of threads_per_replica() threads do not fit this machine's cores,
    or None. The two frameworks take turns, so one group at a time needs the cores."""
    cores = cores or os.cpu_count() or 1
    each = threads_per_replica(threads, workers)
    if workers * each > cores:
        return (f"workers: {workers} replicas x {each} thread(s) each = {workers * each} "
                f"threads, more than this machine's {cores} cores (the replicas would time "
                f"each other's waiting, not the framework); at most {cores} replicas of 1 "
                "thread")
    return None


def budget_note(workers: int, threads: int) -> str | None:
    """A warning when the thread budget does not split evenly over the replicas, or None."""
    each = threads_per_replica(threads, workers)
    if each * workers != threads:
        return (f"threads: {threads} thread(s) per engine over {workers} replicas gives each "
                f"replica {each} ({each * workers} in all)")
    return None
