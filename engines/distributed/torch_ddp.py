"""PyTorch replica: torch.distributed process group + DistributedDataParallel.

gloo on CPU, NCCL on CUDA (one GPU per rank: --gpu + rank). DDP averages the gradients over
the replicas, so with equal slices each rank's mean loss backpropagated gives the global mean
gradient; the loss each rank reports is its slice's mean (the group averages them: no extra
collective in the timed step).
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from typing import Any

from scenarios import Scenario

from ..base import EngineUnavailable
from ..settings import RunSettings
from ..torch_engine import TorchEngine
from .replica import Replica, ReplicaEngine, load_on_own_gpu
from .rules import replica_slice

DDP_BUCKET_MB = 25  # DistributedDataParallel's default bucket_cap_mb


class TorchReplicaEngine(TorchEngine, ReplicaEngine):
    """One rank of a DDP group."""

    def __init__(self, replica: Replica):
        self.replica = replica

    def load(self, settings: RunSettings) -> dict[str, str]:
        if self.replica.addr in ("127.0.0.1", "localhost"):
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        versions = load_on_own_gpu(super().load, settings, self.replica)
        torch = self.torch
        dist = torch.distributed
        self.backend = "nccl" if settings.device == "cuda" else "gloo"
        available = dist.is_available() and (
            dist.is_nccl_available() if self.backend == "nccl" else dist.is_gloo_available())
        if not available:
            raise EngineUnavailable(
                f"this PyTorch build ({torch.__version__}) has no torch.distributed "
                f"{self.backend} backend: data-parallel replicas cannot run")
        r = self.replica
        dist.init_process_group(
            self.backend, init_method=f"tcp://{r.addr}:{r.ports[0]}", rank=r.rank,
            world_size=r.world, timeout=datetime.timedelta(seconds=r.rendezvous_timeout_s))
        # The steps' collectives get a shorter timeout than the rendezvous: a peer that hangs
        # ends the group in seconds, not minutes.
        self.group = dist.new_group(
            backend=self.backend, timeout=datetime.timedelta(seconds=r.collective_timeout_s))
        return versions

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        super().build(scenario, settings)
        torch = self.torch
        part = replica_slice(self.replica.rank, self.replica.world, settings.batch_size)
        self.xs = [x[part].contiguous() for x in self.xs]
        self.ys = [y[part].contiguous() for y in self.ys]
        self.batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                              for m in self.model.modules())
        if not self.train:
            return  # inference: no gradients, nothing to all-reduce; each replica forwards
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=ids, process_group=self.group)
        # self.model stays the plain module (evaluation, outputs: no collectives).
        self.forward = torch.compile(self.ddp) if settings.mode in ("compiled", "xla") \
            else self.ddp

    def distributed_facts(self) -> dict[str, Any]:
        return {"backend": self.backend, "strategy": "DistributedDataParallel",
                "collective": f"{self.backend} all-reduce (DDP buckets of {DDP_BUCKET_MB} MB, "
                              "gradients averaged)",
                "batch_norm": ("per-replica (not synchronised)"
                               if getattr(self, "batch_norm", False) else None)}

    def time_allreduce(self, repeats: int = 10) -> float | None:
        """Median seconds to all-reduce tensors of the gradients' sizes, in DDP's buckets,
        with the group's own collective (a barrier before each, not timed)."""
        torch = self.torch
        dist = torch.distributed
        sizes = [p.numel() for p in self.model.parameters() if p.requires_grad]
        cap = DDP_BUCKET_MB * 2**20 // 4
        buckets, current = [], 0
        for n in sizes:
            if current and current + n > cap:
                buckets.append(current)
                current = 0
            current += n
        if current:
            buckets.append(current)
        tensors = [torch.ones(n, device=self.device) for n in buckets]
        times = []
        for _ in range(repeats + 1):
            dist.barrier(group=self.group)
            t0 = time.perf_counter()
            for t in tensors:
                dist.all_reduce(t, group=self.group)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return statistics.median(times[1:])

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["replica"] = {"rank": self.replica.rank, "world": self.replica.world}
        return cfg
