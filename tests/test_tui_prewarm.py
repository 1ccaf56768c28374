"""Pre-warmed engine processes in the app: started while the user picks, taken by the run,
started again for the next run, and never left behind on quit."""

from __future__ import annotations

import time

import psutil
import pytest

from tui.testing import FAKE_ENGINES, SLOW_FAKES, app_for, run_complete, wait_for
from tui.widgets.engine_column import EngineColumn

pytestmark = pytest.mark.timeout(60)


# Fake engines in child processes (the pool pre-warms those), no telemetry, nothing saved.
QUIET = ("--no-telemetry", "--no-save")


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def warmed(pilot, app) -> dict[str, int]:
    """The pool's idle processes, once the picker's first frames are drawn and both engines
    are warming (the app waits for that before it spawns them)."""
    await wait_for(pilot, lambda: len(app.pool.idle_pids()) == 2)
    return app.pool.idle_pids()


def all_gone(pids, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(running(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
async def test_the_run_takes_the_processes_warmed_while_picking_and_rerun_gets_new_ones():
    app = app_for(*QUIET, "--steps", "40")
    async with app.run_test(size=(120, 40)) as pilot:
        warm = await warmed(pilot, app)  # both engines started while the picker shows
        assert set(warm) == set(FAKE_ENGINES.values()) and all(map(running, warm.values()))
        await pilot.press("enter")  # run mlp
        await wait_for(pilot, lambda: run_complete(app))
        dash = app.screen
        for name, es in dash.state.engines.items():
            assert es.pid == warm[FAKE_ENGINES[name]]  # the run used the warm process
            assert es.report.prewarmed is True
        for col in dash.query(EngineColumn):
            assert col.view.prewarmed and col.view.import_s is not None
        # Once the run has ended, fresh processes are warming for the next one.
        again = app.pool.idle_pids()
        assert set(again) == set(warm) and not set(again.values()) & set(warm.values())
        await pilot.press("r")  # run again: it takes those
        await wait_for(pilot, lambda: run_complete(app) and dash.comparison.state.engines[
            "pytorch"].pid == again["fake:pytorch"])
        await pilot.press("q")  # quit
    assert all_gone(list(warm.values()) + list(again.values()))
    assert app.pool.closed and app.pool.idle_pids() == {}


@pytest.mark.slow
async def test_quitting_from_the_picker_leaves_no_warm_process():
    app = app_for(*QUIET, "--steps", "40")
    async with app.run_test(size=(100, 30)) as pilot:
        pids = list((await warmed(pilot, app)).values())
        assert len(pids) == 2
        await pilot.press("q")
    assert all_gone(pids)


async def test_leaving_the_app_without_q_also_stops_them():
    app = app_for(*QUIET, "--steps", "40")
    async with app.run_test(size=(100, 30)) as pilot:
        pids = list((await warmed(pilot, app)).values())
    assert all_gone(pids)  # the app's unmount closes the pool


async def test_no_pool_for_in_process_runs_or_stand_in_comparisons():
    assert app_for(*QUIET, "--in-process").pool is None
    assert app_for(*QUIET, comparison_factory=lambda *a, **k: None).pool is None
    assert app_for(*QUIET, prewarm=False).pool is None


@pytest.mark.slow
async def test_going_back_from_a_cancelled_run_warms_the_engines_again():
    app = app_for(*QUIET, *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        first = set((await warmed(pilot, app)).values())
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0, timeout=30)
        assert app.pool.idle_pids() == {}  # taken by the run; none warming mid-run
        await pilot.press("b")  # back: the run is cancelled, its processes killed
        await wait_for(pilot, lambda: len(app.pool.idle_pids()) == 2)
        assert not set(app.pool.idle_pids().values()) & first
        await pilot.press("q")
    assert all_gone(first)


async def test_no_engine_process_starts_before_the_picker_is_drawn(monkeypatch):
    # Start-up: the engines' imports would take the cores while the picker draws its first
    # frames; they start once it is on screen (here: when the deferred start-up work runs).
    import tui.app

    monkeypatch.setattr(tui.app, "PREWARM_DELAY_S", 60.0)
    app = app_for(*QUIET, "--steps", "40")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert "Scenarios" in app.export_screenshot()  # the picker is drawn...
        assert app.pool.idle_pids() == {} and not app.warmed_up  # ...and nothing started
        app.warm_up()
        pids = list((await warmed(pilot, app)).values())
    assert all_gone(pids)
