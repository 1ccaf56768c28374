"""Who a replica is: its rank, the group's size and where the group meets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .ports import LOOPBACK
from .rules import COLLECTIVE_TIMEOUT_S, RENDEZVOUS_TIMEOUT_S


@dataclass(frozen=True)
class Replica:
    """One replica's place in its group. `ports`: one per rank, on `addr` (PyTorch's store
    listens on the first; each TensorFlow worker serves on its own)."""

    rank: int
    world: int
    ports: tuple[int, ...]
    addr: str = LOOPBACK
    collective_timeout_s: float = COLLECTIVE_TIMEOUT_S
    rendezvous_timeout_s: float = RENDEZVOUS_TIMEOUT_S

    @property
    def endpoints(self) -> list[str]:
        """host:port of every rank."""
        return [f"{self.addr}:{p}" for p in self.ports]


class ReplicaEngine:
    """Mixin: the data-parallel facts an engine replica reports (see group.py)."""

    replica: Replica

    def distributed_facts(self) -> dict:  # pragma: no cover - overridden
        """backend, strategy, collective implementation and the replica's own facts."""
        return {}

    def time_allreduce(self, repeats: int = 10) -> float | None:  # pragma: no cover
        """Median seconds of one all-reduce of the model's gradients, alone."""
        return None


def load_on_own_gpu(load: Callable[[Any], dict[str, str]], settings: Any,
                    replica: Replica) -> dict[str, str]:
    """Engine.load for one replica: on CUDA each replica takes its own GPU, --gpu + rank
    (NCCL refuses two ranks on one device); the engine's own load pins it."""
    if settings.device != "cuda":
        return load(settings)
    from ..base import EngineUnavailable

    try:
        return load(settings.with_(gpu=settings.gpu + replica.rank))
    except EngineUnavailable as err:
        raise EngineUnavailable(f"workers: replica {replica.rank} of {replica.world} runs on "
                                f"GPU {settings.gpu + replica.rank} (one GPU per replica): "
                                f"{err}") from None
