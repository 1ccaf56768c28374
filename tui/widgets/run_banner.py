"""RunBanner: the dashboard's top line: scenario and every setting that shapes the numbers."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from engines.settings import RunSettings
from scenarios import Scenario

from ..safe_text import printable


def banner_text(scenario: Scenario, settings: RunSettings, engines: dict[str, str]) -> Text:
    """'≋ mlp  SIMULATED  train · eager · alternate · cpu · 1 thread · batch 128 · 300 steps'."""
    out = Text.assemble(("≋ ", "bold"), (printable(scenario.name, newlines=False), "bold"), "  ")
    if any(impl.startswith("fake") for impl in engines.values()):
        out.append("SIMULATED", "bold reverse yellow")
        out.append("  ")
    parts = [settings.task, settings.mode,
             settings.schedule + (" (contended)" if settings.schedule == "parallel" else ""),
             settings.device, f"{settings.threads} thread{'s' if settings.threads > 1 else ''}",
             f"batch {settings.batch_size}", f"{settings.steps:,} steps"]
    if settings.workers > 1:  # data-parallel replicas; the batch above is the global one
        parts.insert(5, f"{settings.workers} workers")
    if settings.isolation == "thread":
        parts.append("in-process")
    out.append(" · ".join(parts))
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


class RunBanner(Widget):
    """One line naming the scenario and the run's settings (simulated engines flagged)."""

    DEFAULT_CSS = "RunBanner { height: 1; }"

    def __init__(self, scenario: Scenario, settings: RunSettings, engines: dict[str, str],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = banner_text(scenario, settings, engines)

    def render(self) -> Text:
        return self.text
