"""Pre-warming: import an engine's framework in its child process before the run is known.

Importing TensorFlow (~4.7 s) or PyTorch (~3.5 s) is most of an engine's start-up. A warm child
imports while the user is still choosing, runs no op (so thread settings can still be applied
later, in Engine.load) and remembers how long the import took, which the session then reports
as the engine's import phase.
"""

from __future__ import annotations

import os
import time
from typing import Any

# Must be in the environment before TensorFlow is imported (the same values as
# TFEngine.load, which sets them with setdefault too, so a user's own setting wins).
TF_IMPORT_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def _import_framework(impl: str) -> None:
    if impl.startswith("fake"):
        return  # the fake engine imports nothing but numpy, already loaded
    if impl == "pytorch":
        import torch  # noqa: F401
    elif impl == "tensorflow":
        for key, value in TF_IMPORT_ENV.items():
            os.environ.setdefault(key, value)
        import tensorflow  # noqa: F401  (first, as TFEngine.load does)
        import keras  # noqa: F401
    else:
        raise ValueError(f"unknown engine {impl!r}")


def warm_import(impl: str) -> dict[str, Any]:
    """Import `impl`'s framework without running an op; {'import_s': seconds} or, when the
    import fails, {'import_s': None, 'error': why} (Engine.load then reports it properly)."""
    t0 = time.perf_counter()
    try:
        _import_framework(impl)
    except Exception as err:  # noqa: BLE001 - a missing framework is the engine's to report
        return {"import_s": None, "error": f"{type(err).__name__}: {err}"}
    return {"import_s": time.perf_counter() - t0}
