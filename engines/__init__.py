"""Engines: one interface over PyTorch and TensorFlow (plus a seeded fake), how they are hosted,
scheduled and measured. Imports no Textual; frameworks are imported only inside engine hosts.
"""

from .base import (
    ENGINE_LABELS, ENGINE_NAMES, MODES, SCHEDULES, TASKS, Engine, RunSettings, default_threads,
    settings_for,
)
from .results import build_results, export, write_json
from .runner import Comparison
from .state import EngineState, RunState

__all__ = [
    "ENGINE_LABELS", "ENGINE_NAMES", "MODES", "SCHEDULES", "TASKS", "Comparison", "Engine",
    "EngineState", "RunSettings", "RunState", "build_results", "default_threads", "export",
    "settings_for", "write_json",
]
