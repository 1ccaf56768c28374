"""The dashboard's fairness line and report (f), and inference runs' latency columns."""

from __future__ import annotations

import pytest

from tui.screens.dashboard import DashboardScreen
from tui.screens.fairness import FairnessScreen
from tui.testing import (
    SLOW_FAKES,
    app_for,
    run_complete,
    screen_text,
    settle,
    wait_for,
    xla_on_tensorflow,
)
from tui.widgets.engine_column import EngineColumn
from tui.widgets.fairness_line import FairnessLine

pytestmark = pytest.mark.timeout(60)


# Fake engines in the app's worker threads, no telemetry, nothing saved.
QUIET = ("--in-process", "--no-telemetry", "--no-save")


@pytest.mark.slow
async def test_like_with_like_says_so_and_f_opens_the_report():
    app = app_for(*QUIET, "--steps", "40")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # run mlp
        await wait_for(pilot, lambda: run_complete(app))
        line = app.screen.query_one(FairnessLine)
        assert line.view.headline is None and line.view.complete
        assert "✓ no difference between the engines that changes speed" in screen_text(app)
        await pilot.press("f")  # the fairness report
        await settle(pilot)
        assert isinstance(app.screen, FairnessScreen)
        text = screen_text(app)
        for expected in ("What each engine ran with", "threads", "synchronisation",
                         "Measures taken", "same initial weights", "same batches",
                         "simulated engines"):
            assert expected in text, expected
        await pilot.press("escape")  # close it
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.slow
async def test_a_difference_that_changes_speed_is_a_visible_warning():
    app = app_for(*QUIET, "--steps", "40", comparison_factory=xla_on_tensorflow)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        line = app.screen.query_one(FairnessLine)
        assert line.view.headline[0] == "warning" and line.has_class("-warning")
        assert "⚠ XLA on TensorFlow only" in screen_text(app)
        await pilot.press("f")
        await settle(pilot)
        text = screen_text(app)
        assert "✗ differs: changes speed" in text  # the XLA row is flagged
        report = app.screen.report
        assert [r.key for r in report.rows if r.flagged] == ["xla"]
        await pilot.press("f")  # f closes it too
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.slow
async def test_the_fairness_line_is_there_while_the_run_goes():
    app = app_for(*QUIET, *SLOW_FAKES, "--steps", "100000")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].seen > 0)
        await settle(pilot)
        assert dash.query_one(FairnessLine).view.complete
        assert "Fairness" in screen_text(app)
        await pilot.press("f")  # the report of a live run
        await settle(pilot)
        assert isinstance(app.screen, FairnessScreen)
        await pilot.press("escape", "c")
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)


# -- inference -----------------------------------------------------------------------------------

async def test_an_inference_run_shows_latency_percentiles_and_throughput():
    app = app_for(*QUIET, "--task", "infer", "--steps", "60")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app))
        dash = app.screen
        for col in dash.query(EngineColumn):
            view = col.view
            assert view.task == "infer" and view.final
            summary = dash.model.tracks[col.engine].final
            assert view.median_s == summary["p50_step_s"]
            assert view.p90_s == summary["p90_step_s"] and view.p99_s == summary["p99_step_s"]
            assert view.median_s <= view.p90_s <= view.p99_s
            assert view.samples_per_s == pytest.approx(128 / view.median_s)
        text = screen_text(app)
        for expected in ("p50 latency", "p90 latency", "p99 latency", "samples/s",
                         "first batch", "faster per batch than", "Batch latency"):
            assert expected in text, expected


@pytest.mark.slow
async def test_live_inference_figures_have_percentiles_before_the_end():
    app = app_for(*QUIET, *SLOW_FAKES, "--task", "infer", "--steps", "100000")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        dash = app.screen
        await wait_for(pilot, lambda: dash.model.tracks["pytorch"].stats.n > 10, timeout=30)
        await settle(pilot)
        view = dash.query_one("#engine-pytorch", EngineColumn).view
        assert not view.final and view.p90_s is not None and view.p99_s is not None
        await pilot.press("c")
        await wait_for(pilot, lambda: dash.state.finished, timeout=5)
