"""Saved runs in the app: a finished run is saved (a cancelled one is not), the Runs screen lists
them, skips bad files with a warning, and shows two marked runs side by side."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from engines.results.store import list_runs
from tui.paths import runs_dir
from tui.screens.dashboard import DashboardScreen
from tui.screens.keys import KeysScreen
from tui.screens.picker import PickerScreen
from tui.screens.run_compare import CompareScreen
from tui.screens.runs import RunsScreen
from tui.testing import (
    SLOW_FAKES,
    Notifications,
    app_for,
    run_complete,
    screen_text,
    settle,
    wait_for,
    write_known_runs,
)
from tui.widgets.compare_table import CompareTable
from tui.widgets.run_table import RunTable

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A private, empty saved-runs folder, and local time in UTC (fixed start times read the
    same everywhere)."""
    folder = tmp_path / "runs"
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(folder))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield folder
    monkeypatch.undo()
    time.tzset()


# Fake engines in the app's worker threads, no telemetry, 40 steps.
QUIET = ("--in-process", "--no-telemetry", "--steps", "40")


async def open_runs(pilot) -> RunsScreen:
    await pilot.press("r")  # the picker's key for saved runs
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen)
                   and pilot.app.screen.loaded)
    await settle(pilot)
    return pilot.app.screen


# -- saving ------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_a_finished_run_is_saved_and_listed_first(runs):
    app = app_for(*QUIET)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")  # run mlp
        dash = app.screen
        await wait_for(pilot, lambda: run_complete(app) and dash.saved_path is not None)
        listing = list_runs(runs_dir())
        assert [str(r.path) for r in listing.runs] == [dash.saved_path]
        # The final figures on screen are the saved document's, not computed a second time.
        saved = json.loads(Path(dash.saved_path).read_text())
        final = json.loads(json.dumps(dataclasses.asdict(dash.model.final)))
        assert final["speedup"] == saved["comparison"]["speedup"]
        assert final["parity"] == saved["comparison"]["parity"]
        assert final["summaries"] == {n: e["summary"] for n, e in saved["engines"].items()}
        assert listing.runs[0].scenario == "mlp" and listing.runs[0].status == "done"
        await pilot.press("b")  # back to the picker
        await settle(pilot)
        screen = await open_runs(pilot)
        table = screen.query_one(RunTable)
        assert table.row_count == 1 and table.current == dash.saved_path
        assert "faster" in screen_text(app)  # the verdict column


async def test_a_run_with_a_failed_engine_is_saved_too(runs):
    app = app_for(*QUIET, "--fault", "tensorflow=nan@10")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.saved_path is not None)
        assert list_runs(runs).runs[0].status == "failed"


@pytest.mark.slow
async def test_a_cancelled_run_is_not_saved(runs):
    app = app_for("--in-process", "--no-telemetry", *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0)
        await pilot.press("c")  # cancel
        await wait_for(pilot, lambda: dash.final_applied)
        await settle(pilot, 5)  # time enough for a save, were there one
        assert dash.saved_path is None
        assert not runs.exists() or list(runs.iterdir()) == []


async def test_a_failure_to_save_is_a_notification_not_a_crash(runs):
    runs.parent.mkdir(exist_ok=True)
    runs.write_text("a file where the folder should be")
    app = app_for(*QUIET)
    notes = Notifications()
    async with app.run_test(size=(120, 30), message_hook=notes) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("could not save" in n for n in notes))
        assert app.is_running and isinstance(app.screen, DashboardScreen)
        assert app.screen.saved_path is None


async def test_no_save_saves_nothing(runs):
    app = app_for(*QUIET, "--no-save")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        await settle(pilot, 5)
        assert not runs.exists()


# -- the Runs screen ---------------------------------------------------------------------------

async def test_runs_are_listed_newest_first_and_a_corrupt_file_is_a_warning(runs):
    paths = write_known_runs(runs)
    app = app_for(*QUIET)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        table = screen.query_one(RunTable)
        assert list(table.runs) == [str(paths[1]), str(paths[0])]  # B (newer) first
        text = screen_text(app)
        assert "2025-03-02 10:15:00" in text and "2025-03-01 10:15:00" in text
        # The corrupt file is named in a warning line, without the folder in front.
        assert "⚠ skipped 20250303-090000-broken.json: corrupt JSON" in text
        assert "Example CPU 9000" in text  # the highlighted run's machine
        await pilot.press("escape")  # back to the picker
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)


async def test_an_empty_folder_says_where_runs_go(runs):
    app = app_for(*QUIET)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_runs(pilot)
        assert "No saved runs yet" in screen_text(app)


@pytest.mark.slow
async def test_mark_two_runs_and_see_them_side_by_side(runs):
    write_known_runs(runs)
    app = app_for(*QUIET)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        table = screen.query_one(RunTable)
        await pilot.press("down")  # to the older run (A, 2 cores)
        await pilot.press("space")  # mark it A
        await pilot.press("up", "space")  # the newer one is B
        assert [table.marks.mark_of(p) for p in table.runs] == ["B", "A"]
        await pilot.press("enter")  # side by side
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await settle(pilot)
        compare = app.screen
        rows = {(r.section, r.label): r for r in compare.comparison.rows}
        assert rows[("machine", "CPU")].a == "Example CPU 2000"
        assert rows[("machine", "CPU")].b == "Example CPU 9000"
        assert rows[("machine", "CPU")].differs
        text = screen_text(app)
        assert "≠ CPU" in text  # a row that differs is marked
        assert "batch size differs (128 vs 256)" in text  # and the runs' warnings shown
        full = compare.query_one(CompareTable).row_count
        await pilot.press("d")  # only the rows that differ
        await settle(pilot)
        assert compare.query_one(CompareTable).row_count < full
        assert "≠ CPU" in screen_text(app) and "  scenario" not in screen_text(app)
        await pilot.press("escape")  # back to the list, marks kept
        await settle(pilot)
        assert app.screen is screen and len(table.marks.paths) == 2


@pytest.mark.slow
async def test_enter_with_one_mark_compares_it_with_the_run_under_the_cursor(runs):
    write_known_runs(runs)
    app = app_for(*QUIET)
    notes = Notifications()
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await open_runs(pilot)
        await pilot.press("enter")  # nothing marked: a hint, no comparison
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any("Mark two runs" in n for n in notes)
        await pilot.press("space", "down", "enter")  # A = newer, B = the one under the cursor
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        rows = {(r.section, r.label): r for r in app.screen.comparison.rows}
        assert rows[("machine", "cores")].a == "16" and rows[("machine", "cores")].b == "2"


async def test_a_run_file_that_vanished_is_an_error_message(runs):
    paths = write_known_runs(runs, corrupt=False)
    app = app_for(*QUIET)
    notes = Notifications()
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await open_runs(pilot)
        await pilot.press("space", "down", "space")
        paths[0].unlink()  # deleted behind the app's back
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Cannot compare" in n for n in notes))
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("r")  # read the folder again: one run left, its mark kept
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == 1)


@pytest.mark.slow
async def test_the_runs_screens_keys_are_listed_and_in_the_palette(runs):
    write_known_runs(runs)
    app = app_for(*QUIET)
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Saved runs" in titles  # from the picker's command palette too
        await open_runs(pilot)
        await pilot.press("question_mark")  # the keys of the runs screen
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        text = screen_text(app)
        assert "Saved runs" in text and "space" in text and "side by side" in text
        await pilot.press("escape")
        await pilot.press("space", "down", "space", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("question_mark")
        await settle(pilot)
        assert "only the rows that differ" in screen_text(app)
