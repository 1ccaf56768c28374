"""Pre-warming: import an engine's framework in its child process before the run is known.

Importing TensorFlow (~4.7 s) or PyTorch (~3.5 s) is most of an engine's start-up. A warm child
imports while the user is still choosing, runs no op (so thread settings can still be applied
later, in Engine.load) and remembers how long the import took, which the session then reports
as the engine's import stage.
"""

from __future__ import annotations

import importlib
import os
import time

from ..registry import info_of, split_impl
from .protocol import WarmImport


def _import_framework(impl: str) -> None:
    info = info_of(impl)  # ValueError for an unknown engine
    if split_impl(impl)[1]:
        return  # the fake engine imports nothing but numpy, already loaded
    for key, value in info.import_env:
        os.environ.setdefault(key, value)  # read at import time; a user's own setting wins
    for module in info.warm_modules:
        importlib.import_module(module)


def warm_import(impl: str) -> WarmImport:
    """Import `impl`'s framework without running an op and say how long it took; when the
    import fails, import_s is None and error says why (Engine.load then reports it properly)."""
    t0 = time.perf_counter()
    try:
        _import_framework(impl)
    except Exception as err:  # noqa: BLE001 - a missing framework is the engine's to report
        return WarmImport(None, f"{type(err).__name__}: {err}")
    return WarmImport(time.perf_counter() - t0)
