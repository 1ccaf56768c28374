"""Helpers to drive the app without a terminal: tests, benchmarks and the docs' screenshots.

Nothing here runs in normal use; it lives in the package so tests and benchmarks share it.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import replace
from typing import Any, Callable

from rich.cells import cell_len

from engines import Comparison
from engines.hosting.protocol import EngineReport
from engines.settings import RunSettings
from scenarios import Scenario

FAKE_ENGINES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
# Command-line options for fake engines that step slowly (runs that last until cancelled).
SLOW_FAKES = ("--fault", "pytorch=slow", "--fault", "tensorflow=slow")

# A fixed telemetry sample with one GPU, for stable pictures of the hardware panel.
GPU_SAMPLE: dict[str, Any] = {
    "t": 1.0, "cpu_pct": 52.0, "mem_used": 3 * 2**30,
    "engines": {"pytorch": {"cpu_pct": 99.0, "rss": 820 * 2**20},
                "tensorflow": {"cpu_pct": 4.0, "rss": 1400 * 2**20}},
    "gpus": [{"index": 0, "util_pct": 87, "mem_used": 9 * 2**30, "mem_total": 40 * 2**30,
              "power_w": 212.0, "temp_c": 64,
              "engine_mem": {"pytorch": 3 * 2**30, "tensorflow": 5 * 2**30}}],
}


def app_for(*argv: str, comparison_factory: Callable[..., Any] | None = None,
            prewarm: bool = True, **changes: Any):
    """The app exactly as `fwcompare-tui --fake --threads 1 ARGV...` makes it.

    `changes` replace fields of the checked Options (e.g. `problems`); the user's scenario
    folder is left unnamed so pictures do not depend on where it is. `comparison_factory`
    and `prewarm` go to the app (stand-in comparisons, no early engine processes).
    """
    from .app import FwCompareApp
    from .cli import parse_options

    options = replace(parse_options(["--fake", "--threads", "1", *argv]),
                      **{"user_dir": None, **changes})
    return FwCompareApp(options, comparison_factory=comparison_factory, prewarm=prewarm)


class Notifications(list):
    """The text of every notification the app shows, in order. Pass it to `run_test` as its
    `message_hook` (public API; the app keeps its own list privately)."""

    def __call__(self, message: Any) -> None:
        from textual.notifications import Notify

        if isinstance(message, Notify):
            self.append(message.notification.message)


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


# One run of characters in the SVG screenshot: its x position and the line it is clipped to.
_SVG_TEXT = re.compile(r'<text [^>]*?x="([0-9.]+)"[^>]*?clip-path="url\(#[^)]*-line-(\d+)\)"'
                       r'[^>]*>(.*?)</text>')
_SVG_CHAR_WIDTH = 20 * 0.61  # Rich's export_svg: font size 20, aspect ratio 0.61


def screen_text(app) -> str:
    """The current screen as plain text (what a user reads), for assertions.

    Read back from the app's public SVG screenshot: each run of text sits at its column
    (x / character width) on its line; the blanks between runs are spaces.
    """
    lines: dict[int, list[tuple[int, str]]] = {}
    for x, line, text in _SVG_TEXT.findall(app.export_screenshot()):
        lines.setdefault(int(line), []).append((round(float(x) / _SVG_CHAR_WIDTH),
                                                html.unescape(text).replace("\xa0", " ")))
    width, height = app.size
    out = []
    for y in range(height):
        row = ""
        for column, text in sorted(lines.get(y, [])):
            row += " " * max(0, column - cell_len(row)) + text
        out.append(row + " " * (width - cell_len(row)))
    return "\n".join(out)


def injected_telemetry(samples: list[dict[str, Any]], gpu_status: str = "ok"):
    """A comparison factory whose telemetry is fixed samples (no clock, no real CPU%)."""

    def factory(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                telemetry: bool = True) -> Comparison:
        comp = Comparison(scenario, settings, engines, telemetry=False)
        comp.state.gpu_status = gpu_status
        for s in samples:
            comp.state.add_telemetry(s)
        return comp

    return factory


def xla_on_tensorflow(scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                      telemetry: bool = True) -> Comparison:
    """A comparison factory whose TensorFlow side reports XLA on (the fake engines never do):
    a run with a difference that changes speed, for the fairness warnings."""
    comp = Comparison(scenario, settings, engines, telemetry=False)
    set_report = comp.state.set_report

    def patched(name: str, report: EngineReport) -> None:
        if name == "tensorflow":
            report = replace(report, config={**report.config, "xla": True})
        set_report(name, report)

    comp.state.set_report = patched  # type: ignore[method-assign]
    return comp


async def settle(pilot, frames: int = 3) -> None:
    """Give the app a few refresh periods (timers, screen switches, repaints)."""
    for _ in range(frames):
        await pilot.pause(0.1)
    await asyncio.sleep(0)


# Two saved runs with fixed content (simulated engines, a fixed machine, fixed start times),
# for stable pictures of the saved-runs screens: A on a 2-core machine, B on a 16-core one
# with twice the batch size.
KNOWN_STARTS = (1_740_824_100.0, 1_740_910_500.0)  # 2025-03-01 10:15 and 2025-03-02 10:15 UTC
KNOWN_MACHINES = (
    {"cpu": "Example CPU 2000", "cpu_count": 2, "gpus": [], "platform": "Linux-x86_64",
     "python": "3.12.0", "versions": {"numpy": "2.0.0"}},
    {"cpu": "Example CPU 9000", "cpu_count": 16, "gpus": [], "platform": "Linux-x86_64",
     "python": "3.12.0", "versions": {"numpy": "2.0.0"}},
)


def known_run_docs(steps: int = 60) -> list[dict[str, Any]]:
    """Results documents of two seeded fake runs of 'mlp' (A, then B), byte-stable."""
    from engines.results.document import build_results
    from engines.settings import settings_for
    from scenarios import find, load_builtins

    scenario = find("mlp", load_builtins())
    docs = []
    for started, machine, batch in zip(KNOWN_STARTS, KNOWN_MACHINES, (128, 256)):
        settings = settings_for(scenario, steps=steps, threads=1, batch_size=batch,
                                isolation="thread")
        doc = build_results(Comparison(scenario, settings, FAKE_ENGINES, telemetry=False).run())
        doc["environment"] = dict(machine)
        doc["started"] = started
        docs.append(doc)
    return docs


def write_known_runs(directory, corrupt: bool = True) -> list[Any]:
    """Write known_run_docs() into `directory` under fixed names (and one corrupt file)."""
    from pathlib import Path

    from engines.results.document import write_json

    directory = Path(directory)
    paths = [write_json(doc, directory / f"2025030{i + 1}-101500-mlp-train-eager.json")
             for i, doc in enumerate(known_run_docs())]
    if corrupt:
        (directory / "20250303-090000-broken.json").write_text("{not json", encoding="utf-8")
    return paths
