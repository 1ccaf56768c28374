"""Engines: one interface over PyTorch and TensorFlow (plus a seeded fake), how they are hosted,
scheduled and measured. Imports no Textual; frameworks are imported only inside engine hosts.
"""

from .base import Engine
from .registry import ENGINE_LABELS, ENGINE_NAMES
from .results.document import build_results, export, write_json
from .run.runner import Comparison
from .run.state import EngineState, RunState
from .settings import MODES, SCHEDULES, TASKS, RunSettings, default_threads, settings_for

__all__ = [
    "ENGINE_LABELS", "ENGINE_NAMES", "MODES", "SCHEDULES", "TASKS", "Comparison", "Engine",
    "EngineState", "RunSettings", "RunState", "build_results", "default_threads", "export",
    "settings_for", "write_json",
]
