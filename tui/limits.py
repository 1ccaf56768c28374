"""The documented maxima of what a user can ask for, on the command line and in the picker.

Each bounds a cost that grows with the number: steps (every step is kept, on screen and in the
export), repeats (a whole comparison each), threads (the frameworks take an int32), the
snapshot's terminal (every cell is drawn and written), the stall watchdog's patience, the GPU
index. Pure values and checks; no Textual.
"""

from __future__ import annotations

import os

# Steps and threads are bounded where the settings are checked (engines.settings: steps up
# to 500,000, since every step is kept and a longer run's saved file would be too large to
# read back; threads up to 256); the command line reports them with its own words.
from engines.settings import MAX_STEPS, MAX_THREADS, RunSettings

MAX_REPEAT = 50
MAX_GPU_INDEX = 255
MIN_SIZE = (80, 24)
MAX_SIZE = (400, 200)  # 400x200 draws in ~1 s; 3000x1000 took 9 s, 100000x100000 never ends
MAX_STALL_TIMEOUT_S = 86_400.0


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_limit_error(settings: RunSettings) -> str | None:
    """Why `settings` ask for more than the documented maxima ('steps: ...'), or None."""
    if settings.steps > MAX_STEPS:
        return f"steps: at most {MAX_STEPS:,}, got {settings.steps:,}"
    if settings.threads > MAX_THREADS:
        return f"threads: at most {MAX_THREADS}, got {settings.threads:,}"
    if settings.gpu > MAX_GPU_INDEX:
        return f"gpu: at most {MAX_GPU_INDEX}, got {settings.gpu:,}"
    return None


def threads_warning(threads: int, cores: int | None = None) -> str | None:
    """A warning when each engine gets more threads than there are cores, else None."""
    cores = cores or usable_cores()
    if threads > cores:
        return (f"--threads {threads} is more than the {cores} core(s) this process may use: "
                f"the engines' threads will compete for cores and step times will suffer")
    return None
