"""Engines: one interface over PyTorch and TensorFlow (plus a seeded fake), how they are hosted,
scheduled and measured. Imports no Textual; frameworks are imported only inside engine hosts.

The names below load on first use (PEP 562): `from engines.settings import RunSettings` in the
picker must not import the runner, the results and numpy with it (start-up, issue 12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scenarios.lazy import lazy_exports

_EXPORTS = {
    "Engine": ".base",
    "ENGINE_LABELS": ".registry", "ENGINE_NAMES": ".registry",
    "build_results": ".results.document", "export": ".results.document",
    "write_json": ".results.document",
    "Comparison": ".run.runner",
    "EngineState": ".run.state", "RunState": ".run.state",
    "MODES": ".settings", "SCHEDULES": ".settings", "TASKS": ".settings",
    "RunSettings": ".settings", "default_threads": ".settings", "settings_for": ".settings",
}

__all__ = [
    "Comparison", "ENGINE_LABELS", "ENGINE_NAMES", "Engine", "EngineState", "MODES",
    "RunSettings", "RunState", "SCHEDULES", "TASKS", "build_results", "default_threads", "export",
    "settings_for", "write_json",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .base import Engine
    from .registry import ENGINE_LABELS, ENGINE_NAMES
    from .results.document import build_results, export, write_json
    from .run.runner import Comparison
    from .run.state import EngineState, RunState
    from .settings import MODES, SCHEDULES, TASKS, RunSettings, default_threads, settings_for
