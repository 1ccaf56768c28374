"""Helpers to drive the app without a terminal: tests, benchmarks and the docs' screenshots.

Nothing here runs in normal use; it lives in the package so tests and benchmarks share it.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any, Callable

from rich.console import Console

from engines import Comparison
from engines.base import RunSettings
from scenarios import Scenario

FAKE_ENGINES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}

# A fixed telemetry sample with one GPU, for stable pictures of the hardware panel.
GPU_SAMPLE: dict[str, Any] = {
    "t": 1.0, "cpu_pct": 52.0, "mem_used": 3 * 2**30,
    "engines": {"pytorch": {"cpu_pct": 99.0, "rss": 820 * 2**20},
                "tensorflow": {"cpu_pct": 4.0, "rss": 1400 * 2**20}},
    "gpus": [{"index": 0, "util_pct": 87, "mem_used": 9 * 2**30, "mem_total": 40 * 2**30,
              "power_w": 212.0, "temp_c": 64,
              "engine_mem": {"pytorch": 3 * 2**30, "tensorflow": 5 * 2**30}}],
}


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 15.0,
                   step: float = 0.05) -> None:
    """Let the app run until `predicate()` holds; AssertionError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await pilot.pause(step)


def run_complete(app) -> bool:
    """True when the app's dashboard shows a finished run with its final figures."""
    dashboards = app.dashboards
    return bool(dashboards) and dashboards[-1].final_applied


def screen_text(app) -> str:
    """The current screen as plain text (what a user reads), for assertions."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


def injected_telemetry(samples: list[dict[str, Any]], gpu_status: str = "ok"):
    """A comparison factory whose telemetry is fixed samples (no clock, no real CPU%)."""

    def factory(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                telemetry: bool = True) -> Comparison:
        comp = Comparison(scenario, settings, engines, telemetry=False)
        comp.state.extra["gpu_status"] = gpu_status
        for s in samples:
            comp.state.add_telemetry(s)
        return comp

    return factory


async def settle(pilot, frames: int = 3) -> None:
    """Give the app a few refresh periods (timers, screen switches, repaints)."""
    for _ in range(frames):
        await pilot.pause(0.1)
    await asyncio.sleep(0)


def sync(coro_fn):
    """Run an async test body with asyncio.run (no asyncio plugin is needed for pytest)."""
    import functools

    @functools.wraps(coro_fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(coro_fn(*args, **kwargs))

    return wrapper
