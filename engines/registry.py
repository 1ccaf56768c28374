"""The engine registry: the only place an engine name is switched on.

Each entry says what an engine is called on screen, which class implements it, which modules a
pre-warmed host imports for it, and how its step synchronises before the clock is read (shown
in the fairness report). An implementation name is an engine name, or ``fake:<engine>`` for the
seeded simulated engine standing in for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .base import Engine

FAKE_PREFIX = "fake:"


@dataclass(frozen=True)
class EngineInfo:
    """What the rest of the program needs to know about one engine."""

    name: str
    label: str
    #: "module:Class" of the implementation, imported only when an engine is created.
    implementation: str
    #: modules a pre-warmed host imports (in this order), with environment set first.
    warm_modules: tuple[str, ...]
    #: how the engine synchronises the device before the clock is read.
    sync_note: str
    #: environment the framework reads at import time (set with setdefault: a user's wins).
    import_env: tuple[tuple[str, str], ...] = ()
    #: "module:Class" of one data-parallel replica (engines.distributed), made with a Replica.
    replica_implementation: str = ""


REGISTRY: dict[str, EngineInfo] = {
    "pytorch": EngineInfo(
        "pytorch", "PyTorch", "engines.torch_engine:TorchEngine", ("torch",),
        "loss.item() before reading the clock (+ torch.cuda.synchronize() on GPU)",
        replica_implementation="engines.distributed.torch_ddp:TorchReplicaEngine"),
    "tensorflow": EngineInfo(
        "tensorflow", "TensorFlow", "engines.tf_engine:TFEngine", ("tensorflow", "keras"),
        "loss.numpy() outside tf.function before reading the clock",
        import_env=(("TF_CPP_MIN_LOG_LEVEL", "2"), ("TF_FORCE_GPU_ALLOW_GROWTH", "true")),
        replica_implementation="engines.distributed.tf_mwms:TFReplicaEngine"),
}

ENGINE_NAMES = tuple(REGISTRY)
ENGINE_LABELS = {name: info.label for name, info in REGISTRY.items()}


# An A/A comparison runs one engine against itself: the second copy is named with this suffix.
TWIN_SUFFIX = "-aa"


def engine_label(name: str) -> str:
    """Display name of an engine ('PyTorch', 'PyTorch (twin)' for an A/A run's second copy);
    unknown names are shown as they are."""
    name = str(name)
    if name.endswith(TWIN_SUFFIX) and name[:-len(TWIN_SUFFIX)] in ENGINE_LABELS:
        return ENGINE_LABELS[name[:-len(TWIN_SUFFIX)]] + " (twin)"
    return ENGINE_LABELS.get(name, name)


def split_impl(impl: str) -> tuple[str, bool]:
    """(engine name, simulated?) of an implementation name such as 'fake:tensorflow'."""
    if impl == "fake":
        return "pytorch", True
    if impl.startswith(FAKE_PREFIX):
        return impl[len(FAKE_PREFIX):], True
    return impl, False


def impl_name(engine: str, fake: bool) -> str:
    """The implementation name for `engine`: itself, or its seeded simulated stand-in."""
    return FAKE_PREFIX + engine if fake else engine


def info_of(impl: str) -> EngineInfo:
    """The registry entry behind an implementation name; ValueError for an unknown engine."""
    name, _ = split_impl(impl)
    if name not in REGISTRY:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINE_NAMES)}")
    return REGISTRY[name]


def create_engine(impl: str) -> Engine:
    """Instantiate an engine by implementation name; frameworks are imported only in load()."""
    info = info_of(impl)
    name, fake = split_impl(impl)
    if fake:
        from .fake_engine import FakeEngine

        return FakeEngine(name)
    module, cls = info.implementation.split(":")
    return getattr(importlib.import_module(module), cls)()


def create_replica_engine(impl: str, replica: Any) -> Engine:
    """One data-parallel replica of `impl` (engines.distributed.replica.Replica says which);
    the fake engine stands in for itself on every rank."""
    info = info_of(impl)
    name, fake = split_impl(impl)
    if fake:
        from .fake_engine import FakeEngine

        return FakeEngine(name)
    module, cls = info.replica_implementation.split(":")
    return getattr(importlib.import_module(module), cls)(replica)
