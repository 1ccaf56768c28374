"""tui.entry starts the program with the cyclic garbage collector off (start-up time); every
path must turn it back on before doing its own work, or a long run would keep every cycle it
makes."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from tui.cli import main
from tui.testing import SLOW_FAKES, app_for, wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def collector_off():
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("argv", [["--list"], ["--fake", "--no-tui", "--scenario", "regression",
                                               "--steps", "5", "--no-telemetry"]])
def test_commands_without_the_app_turn_it_on(collector_off, argv):
    with redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    assert gc.isenabled()


async def test_the_app_turns_it_on_once_the_picker_is_up(collector_off):
    app = app_for("--in-process", "--no-telemetry")
    async with app.run_test(size=(100, 30)) as pilot:
        assert not gc.isenabled()  # the first frames are drawn with it off
        await wait_for(pilot, lambda: app.warmed_up, timeout=10)
        assert gc.isenabled()


async def test_a_run_started_before_the_warm_up_turns_it_on(collector_off):
    app = app_for("--in-process", "--no-telemetry", *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        assert gc.isenabled()
        await pilot.press("q")


def test_the_entry_point_starts_the_program_with_it_off():
    probe = ("import gc, tui.cli as cli\n"
             "cli.console_main = lambda: print('on' if gc.isenabled() else 'off')\n"
             "import tui.entry\n"
             "tui.entry.main()\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "off"


def test_the_heap_is_frozen_once_so_a_finished_runs_cycles_stay_collectable(collector_off,
                                                                            monkeypatch):
    import tui.app as app_module

    monkeypatch.setattr(app_module, "_heap_frozen", False)
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    app_module.freeze_heap()
    gc.disable()
    app_module.freeze_heap()  # a second run's start
    assert frozen == [1] and gc.isenabled()
