"""Logic behind the widgets, tested without an app: downsampling, braille plots, live figures,
formatting, the settings draft, and the text each widget renders."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from engines.hosting.protocol import StepRecord
from engines.results.document import build_results
from engines.results.verdicts import EARLY_TOLERANCE, PARITY_TOLERANCE, parity
from engines.run.state import RunState
from engines.settings import settings_for
from engines.stats import summarize
from scenarios import discover
from scenarios.spec import MAX_STEPS
from tui.braille import BOTH, NONE, plot_rows, y_scale
from tui.downsample import MinMaxDownsampler
from tui.formatting import (
    eta_seconds,
    fmt_bytes,
    fmt_count,
    fmt_duration,
    fmt_eta,
    fmt_flops,
    fmt_value,
    progress_bar,
)
from tui.live_model import DashboardModel, final_figures
from tui.live_stats import ParityTracker, StepTimeStats
from tui.settings_draft import SettingsDraft
from tui.testing import GPU_SAMPLE
from tui.widgets.engine_column import render_view
from tui.widgets.hardware_panel import render_hardware
from tui.widgets.parity_meter import meter_position, render_parity
from tui.widgets.speedup_line import render_speedup

SCENARIOS = {s.name: s for s in discover([], None)[0]}
ENGINES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


# -- downsampling -------------------------------------------------------------------------------

def brute_columns(y, width, x_max):
    """Reference: min/max of the points whose x rounds to each column."""
    x = np.arange(1, len(y) + 1, dtype=float)
    cols = np.rint(x * (width - 1) / x_max).astype(int)
    lo = np.full(width, np.nan)
    hi = np.full(width, np.nan)
    for c, v in zip(cols, y):
        lo[c] = np.fmin(lo[c], v)
        hi[c] = np.fmax(hi[c], v)
    return lo, hi


@pytest.mark.parametrize("n", [1, 7, 100, 5_000, 100_003])
def test_downsampler_keeps_every_extreme(n):
    rng = np.random.default_rng(n)
    y = rng.standard_normal(n)
    d = MinMaxDownsampler(capacity=64)
    for chunk in np.array_split(y, 13):  # arrives in uneven batches
        d.extend(chunk)
    assert d.count == n
    assert d.n <= 64
    assert d.y_range() == (y.min(), y.max())
    x0, x1, lo, hi = d.buckets()
    assert lo.min() == y.min() and hi.max() == y.max()
    assert x0[0] == 0 and x1[-1] == n - 1


def test_downsampler_memory_is_bounded():
    d = MinMaxDownsampler(capacity=128)
    for _ in range(100):
        d.extend(np.arange(10_000, dtype=float))
    assert d.count == 1_000_000
    assert d.n < 128
    assert d.per_bucket >= 1_000_000 // 128
    assert all(len(a) <= 129 for a in d.buckets())


def test_columns_match_a_brute_force_reduction_when_points_fit():
    y = np.sin(np.arange(300) / 20.0)
    d = MinMaxDownsampler()
    d.extend(y, np.arange(1, 301, dtype=float))
    cols = d.columns(60, 0.0, 300.0)
    lo, hi = brute_columns(y, 60, 300.0)
    np.testing.assert_array_equal(np.isnan(cols.lo), np.isnan(lo))
    np.testing.assert_allclose(cols.lo[~np.isnan(lo)], lo[~np.isnan(lo)])
    np.testing.assert_allclose(cols.hi[~np.isnan(hi)], hi[~np.isnan(hi)])


def test_nan_values_are_counted_but_not_drawn():
    d = MinMaxDownsampler(capacity=4)
    d.extend([1.0, float("nan"), 3.0, float("inf"), 2.0])
    assert d.count == 5
    assert d.y_range() == (1.0, 3.0)


def test_downsampler_rejects_odd_capacity():
    with pytest.raises(ValueError):
        MinMaxDownsampler(capacity=3)


# -- braille ------------------------------------------------------------------------------------

def test_two_identical_curves_are_drawn_as_both_and_different_ones_apart():
    y = np.linspace(1, 0, 50)
    same_a, same_b, apart = (MinMaxDownsampler() for _ in range(3))
    same_a.extend(y)
    same_b.extend(y)
    apart.extend(y + 10)
    scale = y_scale([same_a.y_range()], log=False)
    rows = plot_rows([same_a.columns(40, 0, 49), same_b.columns(40, 0, 49)], 20, 5, scale)
    owners = {o for row in rows for _, o in row}
    assert owners == {NONE, BOTH}
    scale = y_scale([same_a.y_range(), apart.y_range()], log=False)
    rows = plot_rows([same_a.columns(40, 0, 49), apart.columns(40, 0, 49)], 20, 5, scale)
    owners = {o for row in rows for _, o in row}
    assert {0, 1} <= owners and BOTH not in owners


def test_plot_rows_have_the_requested_size_and_join_steep_lines():
    d = MinMaxDownsampler()
    d.extend([0.0, 1.0, 0.0, 1.0])
    scale = y_scale([d.y_range()], log=False)
    rows = plot_rows([d.columns(8, 0, 3)], 4, 3, scale)
    assert len(rows) == 3
    assert all(sum(len(t) for t, _ in row) == 4 for row in rows)
    # A vertical jump fills the dots between: no empty row in the middle of the plot.
    middle = "".join(t for t, _ in rows[1])
    assert middle.strip() != ""


def test_log_scale_needs_positive_values():
    assert y_scale([(0.1, 10.0)], log=True).log
    assert not y_scale([(-1.0, 10.0)], log=True).log
    assert y_scale([], log=False) is None


# -- live figures -------------------------------------------------------------------------------

def test_step_time_stats_are_exact_then_close_from_the_histogram():
    rng = np.random.default_rng(1)
    t = rng.lognormal(-6, 0.2, 50_000)
    stats = StepTimeStats()
    stats.add(t[:1000])
    exact = summarize(t[:1000])
    assert stats.exact and stats.summary() == exact
    for chunk in np.array_split(t[1000:], 10):
        stats.add(chunk)
    assert not stats.exact
    live, ref = stats.summary(), summarize(t)
    assert live.n == ref.n
    for a, b in ((live.median, ref.median), (live.q1, ref.q1), (live.q3, ref.q3)):
        assert abs(a - b) / b < 1e-3


def test_parity_tracker_agrees_with_the_export_rule():
    rng = np.random.default_rng(2)
    a = 2 + rng.random(500)
    b = a * (1 + rng.normal(0, 1e-6, 500))
    tracker = ParityTracker(PARITY_TOLERANCE["sgd"], EARLY_TOLERANCE["sgd"])
    for s in range(0, 500, 37):
        tracker.add(a[s:s + 37], b[s:s + 37])
    ref = parity(a, b, "sgd")
    assert tracker.compared == ref["steps_compared"]
    assert tracker.max_rel == pytest.approx(ref["max_rel_loss_diff"])
    assert tracker.max_abs == pytest.approx(ref["max_abs_loss_diff"])
    assert tracker.early_max_rel == pytest.approx(ref["early_max_rel_loss_diff"])
    assert tracker.within_tolerance is ref["within_tolerance"] is True
    # A difference of 1e-3 in the early window is a mismatch, though it is within the
    # whole-run drift tolerance; the same difference late in the run is drift.
    early_bad = b.copy()
    early_bad[10] = a[10] * (1 + 1e-3)
    late_bad = b.copy()
    late_bad[400] = a[400] * (1 + 1e-3)
    for curve, verdict in ((early_bad, False), (late_bad, True)):
        t = ParityTracker(PARITY_TOLERANCE["sgd"], EARLY_TOLERANCE["sgd"])
        for s in range(0, 500, 37):
            t.add(a[s:s + 37], curve[s:s + 37])
        assert t.within_tolerance is parity(a, curve, "sgd")["within_tolerance"] is verdict
    tracker.add([1.0], [float("nan")])
    assert tracker.within_tolerance is False and tracker.nonfinite


def fill_state(steps: int, *, fail_tf_at: int | None = None) -> RunState:
    """A RunState fed as the engines would: a batch of StepRecords per engine."""
    scenario = SCENARIOS["mlp"]
    settings = settings_for(scenario, steps=steps, threads=1)
    state = RunState(scenario, settings, ENGINES)
    for name, ms in (("pytorch", 2.0), ("tensorflow", 3.0)):
        state.set_stage(name, "running")
        recs = []
        for i in range(steps):
            phase = "first" if i == 0 else "warmup" if i <= 5 else "steady"
            loss = 1.0 / (1 + i) + (1e-7 if name == "tensorflow" else 0.0)
            if name == "tensorflow" and fail_tf_at is not None and i == fail_tf_at:
                recs.append(StepRecord(i, phase, math.nan, ms / 1e3))
                break
            recs.append(StepRecord(i, phase, loss, (ms + 0.01 * (i % 7)) / 1e3))
        state.add_records(name, recs)
        if name == "tensorflow" and fail_tf_at is not None:
            state.finish(name, "failed", f"loss became NaN at step {fail_tf_at}")
        else:
            state.finish(name, "done")
    return state


def test_dashboard_model_pulls_only_new_records_and_matches_the_final_figures():
    state = fill_state(400)
    model = DashboardModel(state.scenario, state.settings, list(ENGINES), telemetry=False)
    assert model.update(state)
    assert not model.update(state)  # nothing new: no redraw
    view = model.engine_view("pytorch")
    assert view.steps_done == 400 and view.status == "done"
    ref = summarize(state.engines["pytorch"].steady_times())
    assert view.median_s == pytest.approx(ref.median)
    live_speedup = model.speedup_view()
    model.apply_final(final_figures(build_results(state)))
    final = model.speedup_view()
    assert final.final and final.ci95 is not None
    assert final.faster == live_speedup.faster == "PyTorch"
    assert final.ratio == pytest.approx(live_speedup.ratio)
    assert model.parity_view().within is True


def test_a_failed_engine_reads_failed_with_its_error():
    state = fill_state(100, fail_tf_at=30)
    model = DashboardModel(state.scenario, state.settings, list(ENGINES), telemetry=False)
    model.update(state)
    view = model.engine_view("tensorflow")
    assert view.status == "failed" and view.steps_done == 31
    text = render_view(view, 40).plain
    assert "failed" in text and "NaN at step 30" in text
    par = model.parity_view()
    assert par.nonfinite and par.within is False
    assert "non-finite" in render_parity(par, 100).plain
    sp = model.speedup_view()
    assert "TensorFlow stopped early" in render_speedup(sp).plain
    assert "parity failed" not in render_speedup(sp).plain  # a NaN is not different work


@pytest.mark.parametrize("steps", [1_000, pytest.param(MAX_STEPS, marks=pytest.mark.slow)])
def test_redraw_work_does_not_grow_with_steps(steps):
    """After ingestion, a frame touches bounded summaries only: same sizes at 1e3 and 5e5."""
    scenario = SCENARIOS["mlp"]
    settings = settings_for(scenario, steps=steps, threads=1)
    state = RunState(scenario, settings, ENGINES)
    rng = np.random.default_rng(0)
    for name in ENGINES:
        times = 0.002 + 1e-4 * rng.random(steps)
        losses = 1 / (1 + np.arange(steps))
        recs = [StepRecord(i, "steady", float(losses[i]), float(times[i]))
                for i in range(0, steps, 1)]
        state.add_records(name, recs)
    model = DashboardModel(scenario, settings, list(ENGINES), telemetry=False)
    model.update(state)
    for track in model.tracks.values():
        for sampler in (track.loss_by_step, track.time_by_step, track.loss_by_wall):
            assert sampler.n <= sampler.capacity
            assert sum(len(a) for a in sampler.buckets()) <= 4 * (sampler.capacity + 1)
        assert track.stats.exact == (steps <= StepTimeStats.EXACT_LIMIT)


# -- text ----------------------------------------------------------------------------------------

def test_formatting():
    assert fmt_duration(0.00208) == "2.08 ms"
    assert fmt_duration(9.4e-5) == "94 µs"
    assert fmt_duration(4.7) == "4.7 s"
    assert fmt_duration(125) == "2m05s"
    assert fmt_duration(None) == "—"
    assert fmt_eta(3.21) == "3.2 s" and fmt_eta(None) == "—"
    assert fmt_bytes(512 * 2**20) == "512 MiB" and fmt_bytes(None) == "—"
    # 1000-1023 MiB once printed as "1e+03 MiB".
    assert fmt_bytes(1010 * 2**20) == "1010 MiB" and fmt_bytes(1.5 * 2**30) == "1.5 GiB"
    assert fmt_count(61_700) == "61.7k" and fmt_count(950) == "950"
    assert fmt_flops(1.56e8) == "156 MFLOP"
    assert fmt_value(float("nan")) == "NaN" and fmt_value(0.27583) == "0.2758"
    assert fmt_value(4e-7) == "4.00e-07"


def test_progress_bar_is_exactly_as_wide_as_asked():
    for done in (0, 1, 33, 99, 100):
        assert len(progress_bar(done, 100, 17)) == 17
    assert progress_bar(100, 100, 5) == "█████"
    assert progress_bar(0, 100, 5) == "     "


def test_eta_uses_recorded_times_only():
    assert eta_seconds(0, 100, None, None) is None
    assert eta_seconds(11, 111, 1.0, 2.0) == pytest.approx(10.0)
    assert eta_seconds(100, 100, 1.0, 2.0) == 0.0


def test_parity_meter_marks_the_tolerance():
    filled, mark = meter_position(1e-7, 1e-3, 40)
    assert 0 < filled < mark < 40
    filled_bad, _ = meter_position(1e-2, 1e-3, 40)
    assert filled_bad > mark


def test_hardware_panel_text():
    from tui.live_model import HardwareView

    labels = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
    text = render_hardware(HardwareView(True, "ok", GPU_SAMPLE, labels)).plain
    assert "GPU0 87%" in text and "212 W" in text and "64°C" in text
    assert "PyTorch 99% 820 MiB" in text and "PyTorch 3 GiB" in text
    no_gpu = {**GPU_SAMPLE, "gpus": []}
    text = render_hardware(HardwareView(True, "no NVIDIA GPU (driver not found)", no_gpu,
                                        labels)).plain
    assert text.count("\n") == 1 and "no NVIDIA GPU (driver not found)" in text
    assert "CPU 52%" in text
    broken = {**GPU_SAMPLE, "gpus": [{"index": 0, "util_pct": None, "mem_used": None,
                                      "mem_total": None, "power_w": None, "temp_c": None,
                                      "engine_mem": {}}]}
    text = render_hardware(HardwareView(True, "ok", broken, labels)).plain
    assert "GPU0 —" in text  # a failed NVML query reads N/A, it never raises
    assert "telemetry off" in render_hardware(HardwareView(False, None, None, labels)).plain


# -- settings draft ------------------------------------------------------------------------------

def test_settings_draft_keeps_user_choices_across_scenarios():
    draft = SettingsDraft(ENGINES, {"mode": "compiled"}, {"isolation": "thread", "faults": {}},
                          cpu_count=4)
    mlp, cnn = SCENARIOS["mlp"], SCENARIOS["cnn"]
    assert draft.value("steps", mlp) == 300 and draft.value("steps", cnn) == 200
    draft.type_digit("steps", "5")
    draft.type_digit("steps", "0")
    assert draft.display("steps", mlp) == "50▏"
    draft.commit()
    assert draft.resolve(cnn)[0].steps == 50
    assert draft.resolve(mlp)[0].mode == "compiled"
    draft.change("batch_size", 1, mlp)
    assert draft.value("batch_size", mlp) == 256
    draft.change("steps", -1, mlp)
    assert draft.value("steps", mlp) == 20
    draft.change("threads", 100, mlp)
    assert draft.value("threads", mlp) == 8  # at most twice the cores
    draft.change("engines", 1, mlp)
    assert draft.selected_engines() == {"pytorch": "fake:pytorch"}
    draft.reset("engines")
    assert draft.selected_engines() == ENGINES


def test_settings_draft_reports_what_does_not_fit():
    draft = SettingsDraft(ENGINES, {"batch_size": 10_000})
    settings, error = draft.resolve(SCENARIOS["mlp"])
    assert settings is None and "exceeds" in error
    draft.backspace("batch_size")  # 1000: fits 4096 samples
    assert draft.resolve(SCENARIOS["mlp"])[0].batch_size == 1000


def test_pure_modules_import_no_textual_and_no_framework():
    code = ("import sys; import tui.downsample, tui.formatting, tui.live_stats, "
            "tui.live_model, tui.braille, tui.settings_draft; "
            "bad = [m for m in ('textual', 'torch', 'tensorflow') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- inference, fairness and saved runs: the text behind the widgets ------------------------------

def test_live_percentiles_from_the_histogram_are_close_to_the_exact_ones():
    rng = np.random.default_rng(3)
    t = rng.lognormal(-6, 0.3, 40_000)
    stats = StepTimeStats()
    for chunk in np.array_split(t, 8):
        stats.add(chunk)
    assert not stats.exact
    live, ref = stats.summary(), summarize(t)
    for a, b in ((live.p90, ref.p90), (live.p99, ref.p99)):
        assert abs(a - b) / b < 2e-3


def test_an_inference_column_shows_latency_percentiles():
    scenario = SCENARIOS["mlp"]
    settings = settings_for(scenario, steps=200, threads=1, task="infer")
    state = RunState(scenario, settings, ENGINES)
    for name in ENGINES:
        state.add_records(name, [StepRecord(i, "first" if i == 0 else "steady", 0.5,
                                            1e-3 * (1 + i % 10)) for i in range(200)])
        state.finish(name, "done")
    model = DashboardModel(scenario, settings, list(ENGINES), telemetry=False)
    model.update(state)
    live = model.engine_view("pytorch")
    model.apply_final(final_figures(build_results(state)))
    final = model.engine_view("pytorch")
    ref = summarize(state.engines["pytorch"].steady_times())
    assert final.median_s == ref.median and final.p90_s == ref.p90 and final.p99_s == ref.p99
    assert (live.median_s, live.p90_s, live.p99_s) == (ref.median, ref.p90, ref.p99)
    wide, narrow = render_view(final, 60).plain, render_view(final, 36).plain
    assert "p90 latency" in wide and "p99 latency" in wide and "first batch" in wide
    assert "p90" in narrow and "latency" not in narrow  # short labels where room is short
    assert "faster per batch" in render_speedup(model.speedup_view()).plain


def test_the_fairness_line_shows_what_the_rest_of_the_dashboard_does_not():
    from engines.results.fairness import FairnessReport, FairnessRow, FairnessWarning
    from tui.live_model import FairnessView
    from tui.widgets.fairness_line import render_fairness

    state = fill_state(100)
    model = DashboardModel(state.scenario, state.settings, list(ENGINES), telemetry=False)
    model.update(state)
    rows = [FairnessRow("mode", "mode", {"pytorch": "eager", "tensorflow": "eager"}, False,
                        True)]
    model.fairness = FairnessReport(list(ENGINES), rows, [], [
        FairnessWarning("warning", "simulated", "simulated engines"),  # the banner says it
        FairnessWarning("note", "outliers", "PyTorch: 2 outlier step(s) marked"),
        FairnessWarning("warning", "xla", "XLA on TensorFlow only: not like with like"),
    ])
    view = model.fairness_view()
    assert view == FairnessView(True, ("warning", "XLA on TensorFlow only: not like with like"),
                                1, 1)
    text = render_fairness(view, 60).plain
    assert text.startswith("Fairness ⚠ XLA on TensorFlow") and text.endswith(
        "(+1 more · f: report)") and len(text) <= 60  # the key hint survives shortening
    model.fairness.warnings.pop()  # only the note is left
    assert "ℹ PyTorch: 2 outlier" in render_fairness(model.fairness_view()).plain
    model.fairness.warnings.clear()
    assert "✓ no difference" in render_fairness(model.fairness_view()).plain


def test_run_marks_name_a_then_b_and_pair_with_the_cursor():
    from tui.saved_runs import RunMarks

    marks = RunMarks()
    assert marks.pair("x") is None
    marks.toggle("x")
    assert marks.mark_of("x") == "A" and marks.pair("x") is None and marks.pair("y") == ("x", "y")
    marks.toggle("y")
    marks.toggle("z")  # a third mark drops the oldest
    assert marks.paths == ["y", "z"] and marks.mark_of("y") == "A" and marks.pair(None) == \
        ("y", "z")
    marks.toggle("y")  # unmark: z moves up to A
    assert marks.mark_of("z") == "A"
    marks.keep_only({"q"})
    assert marks.paths == []


def test_compare_lines_group_rows_and_hide_equal_ones_on_request():
    from engines.results.diff import CompareRow
    from tui.saved_runs import compare_cells, compare_lines, warning_lines

    rows = [CompareRow("machine", "CPU", "a", "b", "", True),
            CompareRow("machine", "python", "3.12", "3.12"),
            CompareRow("settings", "steps", "60", "60")]
    lines = compare_lines(rows)
    assert [(ln.section, ln.row.label if ln.row else None) for ln in lines] == [
        ("machine", None), ("machine", "CPU"), ("machine", "python"), ("settings", None),
        ("settings", "steps")]
    only = compare_lines(rows, only_differing=True)
    assert [ln.row.label if ln.row else ln.section for ln in only] == ["machine", "CPU"]
    assert compare_cells(only[1])[0].plain == "≠ CPU"
    from pathlib import Path

    lines = warning_lines([f"skipped /r/{i}.json: corrupt JSON" for i in range(5)], Path("/r"))
    assert lines == ["⚠ skipped 0.json: corrupt JSON", "⚠ skipped 1.json: corrupt JSON",
                     "⚠ … and 3 more skipped file(s)"]


def test_parity_meter_holds_the_early_window_to_its_strict_bound():
    from tui.live_model import ParityView
    from tui.widgets.parity_meter import effective_rel, render_parity

    # 5e-4 early is a mismatch even though it is far below the 2e-2 run bound: the meter
    # must draw it past the limit marker, and the text must name both bounds.
    view = ParityView(True, 40, 5e-4, 5e-4, 1e-3, 2e-2, False, False, 5e-4, 1e-4)
    assert effective_rel(view) == pytest.approx(0.1)
    text = render_parity(view, 110).plain
    assert "tol 1e-4→2e-2" in text and "MISMATCH" in text
    from tui.widgets.parity_meter import meter_position

    filled, mark = meter_position(effective_rel(view), view.tolerance, 40)
    assert filled > mark


def test_settings_draft_shows_the_defaults_the_run_will_use():
    from tui.settings_draft import SettingsDraft

    scenario = SCENARIOS["mlp"]
    draft = SettingsDraft({"pytorch": "pytorch", "tensorflow": "tensorflow"})
    draft.overrides["steps"] = 20
    draft.overrides["schedule"] = "parallel"
    settings, why = draft.resolve(scenario)
    assert why is None
    assert draft.value("warmup_steps", scenario) == settings.warmup_steps == 2
    assert draft.value("threads", scenario) == settings.threads
