"""The stall watchdog's limits: how long an engine may stay silent before it is stopped.

A module of its own, with nothing heavy imported, so the command line can name the defaults
without loading the runner (start-up).
"""

from __future__ import annotations

# The stall watchdog: an engine inside a call to its host (a turn, its build, its report) that
# sends nothing (no step, no stage change) for this long is stopped and marked failed, and the
# other engines go on. Stages with one long, legitimate silence (the import, the model build,
# the first step's tracing or compilation: torch.compile took 9 s on the reference machine, XLA
# can take minutes) get SLOW_STAGE_FACTOR times as long. 0 or None: no watchdog.
DEFAULT_STALL_TIMEOUT_S = 120.0
SLOW_STAGE_FACTOR = 10
SLOW_STAGES = ("waiting", "starting", "importing", "building", "compiling")


def stall_limit(stage: str, timeout: float) -> float:
    """Seconds of silence the watchdog allows an engine in lifecycle stage `stage`."""
    return timeout * SLOW_STAGE_FACTOR if stage in SLOW_STAGES else timeout


def stall_message(stage: str, limit: float, timeout: float) -> str:
    """The error of an engine the watchdog stopped."""
    what = f"no step for {limit:g} s" if stage not in SLOW_STAGES else \
        f"no progress for {limit:g} s while {stage}"
    return f"{what}: stopped by the stall watchdog (--stall-timeout {timeout:g})"
