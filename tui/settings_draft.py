"""Run settings as the user edits them in the picker, before a run. Pure logic, no Textual.

The draft keeps only what the user (or the command line) set; everything else comes from the
scenario under the cursor, so moving to another scenario shows its own steps and batch size
while keeping the user's choices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from engines.distributed.rules import cores_problem
from engines.precision import PRECISIONS, cpu_refusal
from engines.registry import engine_label
from engines.settings import DEVICES, MODES, SCHEDULES, TASKS, RunSettings, settings_for
from scenarios import Scenario
from scenarios.input import PIPELINES
from scenarios.spec import MAX_STEPS

from .options import BadInput, check_budget

STEP_LADDER = (1, 10, 20, 50, 100, 200, 300, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
               100_000, 200_000, MAX_STEPS)
BATCH_LADDER = tuple(2 ** k for k in range(14))
BOTH = "both"
#: The picker's choices of DataLoader workers / tf.data parallel calls ("auto": AUTOTUNE).
LOADER_WORKER_CHOICES: tuple = ("auto", 0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Row:
    """One editable setting: its key in RunSettings, its label, and its kind."""

    key: str
    label: str
    choices: tuple = ()  # empty: an integer (loader workers mix "auto" and counts)
    minimum: int = 1

    @property
    def numeric(self) -> bool:
        return not self.choices


def _ladder_step(value: int, delta: int, ladder: tuple[int, ...], minimum: int) -> int:
    if delta > 0:
        bigger = [v for v in ladder if v > value]
        return bigger[0] if bigger else value
    smaller = [v for v in ladder if v < value and v >= minimum]
    return smaller[-1] if smaller else value


class SettingsDraft:
    """Editable overrides on top of a scenario's defaults, and the engines to run."""

    def __init__(self, engines: dict[str, str], overrides: dict[str, Any] | None = None,
                 fixed: dict[str, Any] | None = None, cpu_count: int | None = None):
        self.engines = dict(engines)
        self.overrides: dict[str, Any] = {k: v for k, v in (overrides or {}).items()
                                          if v is not None}
        self.fixed = dict(fixed or {})  # not editable here: isolation, faults, peak cache
        self.engine_choice = BOTH if len(engines) > 1 else next(iter(engines))
        self.editing: tuple[str, str] | None = None  # (row key, digits typed so far)
        self.max_threads = max(1, 2 * (cpu_count or os.cpu_count() or 1))
        # Data-parallel replicas: at most one per core (each takes at least one thread).
        self.max_workers = max(1, cpu_count or os.cpu_count() or 1)
        engine_choices = ((BOTH,) if len(engines) > 1 else ()) + tuple(engines)
        self.rows = (
            Row("steps", "steps"),
            Row("batch_size", "batch size"),
            Row("warmup_steps", "warm-up", minimum=0),
            Row("task", "task", TASKS),
            Row("mode", "mode", MODES),
            Row("schedule", "schedule", SCHEDULES),
            Row("device", "device", DEVICES),
            Row("precision", "precision", PRECISIONS),
            Row("threads", "threads"),
            Row("workers", "workers"),  # data-parallel replicas (--workers)
            Row("input_pipeline", "input", PIPELINES),
            Row("loader_workers", "loader workers", LOADER_WORKER_CHOICES),
            Row("engines", "engines", engine_choices),
        )

    def row(self, key: str) -> Row:
        """The row called `key`."""
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    # -- resolving -----------------------------------------------------------------------
    def resolve(self, scenario: Scenario) -> tuple[RunSettings | None, str | None]:
        """(settings, None), or (None, why) when the values do not fit this scenario, or the
        run would not fit in memory (the same check as the command line's)."""
        try:
            settings = settings_for(scenario, **self.overrides, **self.fixed)
            check_budget(scenario, settings, len(self.selected_engines()))
        except (ValueError, TypeError, BadInput) as err:
            return None, str(err)
        refusal = cpu_refusal(settings.precision, settings.device)
        if refusal:
            return None, f"precision: {refusal}"
        if settings.workers > 1 and settings.device == "cpu":
            problem = cores_problem(settings.workers, settings.threads, self.max_workers)
            if problem:
                return None, problem
        return settings, None

    def value(self, key: str, scenario: Scenario) -> Any:
        """The value a row has for `scenario`: the override, else the scenario's default."""
        if key == "engines":
            return self.engine_choice
        if key in self.overrides:
            return self.overrides[key]
        # Defaults depend on the other choices (threads on the schedule, warm-up on steps):
        # derive them with the user's overrides, as the run will.
        for overrides in ({**self.overrides, **self.fixed}, self.fixed):
            try:
                return getattr(settings_for(scenario, **overrides), key)
            except (ValueError, TypeError):
                continue
        return getattr(RunSettings(), key)

    def display(self, key: str, scenario: Scenario) -> str:
        """The text shown for a row (digits being typed are shown as typed)."""
        if self.editing and self.editing[0] == key:
            return self.editing[1] + "▏"
        v = self.value(key, scenario)
        if key == "engines":
            if v == BOTH:
                return " + ".join(engine_label(n) for n in self.engines)
            return engine_label(v)
        return str(v)

    def is_set(self, key: str) -> bool:
        """True when the user chose this row's value (it is not the scenario's default)."""
        if key == "engines":
            return len(self.engines) > 1 and self.engine_choice != BOTH
        return key in self.overrides

    def selected_engines(self) -> dict[str, str]:
        """name -> implementation of the engines that will run."""
        if self.engine_choice == BOTH:
            return dict(self.engines)
        return {self.engine_choice: self.engines[self.engine_choice]}

    # -- editing -------------------------------------------------------------------------
    def change(self, key: str, delta: int, scenario: Scenario) -> None:
        """Left/right: the next or previous choice, or a step along a number ladder."""
        self.commit()
        row = self.row(key)
        if key == "engines":
            i = row.choices.index(self.engine_choice)
            self.engine_choice = row.choices[(i + delta) % len(row.choices)]
            return
        current = self.value(key, scenario)
        if row.choices:
            i = row.choices.index(current) if current in row.choices else 0
            self.overrides[key] = row.choices[(i + delta) % len(row.choices)]
            return
        if key == "steps":
            new = _ladder_step(current, delta, STEP_LADDER, row.minimum)
        elif key == "batch_size":
            new = _ladder_step(current, delta, BATCH_LADDER, row.minimum)
        elif key == "threads":
            new = min(self.max_threads, max(row.minimum, current + delta))
        elif key == "workers":
            new = min(self.max_workers, max(row.minimum, current + delta))
        else:
            new = max(row.minimum, current + delta)
        self.overrides[key] = new

    def type_digit(self, key: str, digit: str) -> None:
        """Typing digits on a number row replaces its value as you type."""
        row = self.row(key)
        if not row.numeric or not digit.isdigit():
            return
        typed = self.editing[1] if self.editing and self.editing[0] == key else ""
        typed = (typed + digit).lstrip("0") or ("0" if row.minimum == 0 else "")
        if len(typed) > 9:
            return
        self.editing = (key, typed)
        if typed and int(typed) >= row.minimum:
            self.overrides[key] = int(typed)

    def backspace(self, key: str) -> None:
        """Delete the last typed digit; with none left the row goes back to its default."""
        if not self.row(key).numeric:
            return
        typed = self.editing[1] if self.editing and self.editing[0] == key else \
            str(self.overrides.get(key, ""))
        typed = typed[:-1]
        self.editing = (key, typed)
        if typed and int(typed) >= self.row(key).minimum:
            self.overrides[key] = int(typed)
        else:
            self.overrides.pop(key, None)

    def reset(self, key: str) -> None:
        """Back to the scenario's default."""
        self.commit()
        if key == "engines":
            self.engine_choice = self.row("engines").choices[0]
        else:
            self.overrides.pop(key, None)

    def commit(self) -> None:
        """Stop typing into a row (an empty entry keeps the default)."""
        self.editing = None
