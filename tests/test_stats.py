"""Statistics with known inputs and known answers: medians, IQR, stability, outliers,
bootstrap intervals (exact small cases and coverage), hierarchical bootstrap, break-even."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.results.verdicts import output_parity, parity, speedup
from engines.stats import (
    UNSTABLE_IQR_RATIO,
    Summary,
    bootstrap_ratio_ci,
    breakeven_steps,
    hierarchical_bootstrap_ratio_ci,
    is_stable,
    outlier_mask,
    summarize,
)


def test_summary_of_known_values():
    s = summarize(np.arange(1, 101, dtype=float))  # 1..100
    assert s.n == 100
    assert s.median == 50.5
    assert s.q1 == pytest.approx(25.75) and s.q3 == pytest.approx(75.25)  # linear interpolation
    assert s.iqr == pytest.approx(49.5)
    assert s.p90 == pytest.approx(90.1) and s.p99 == pytest.approx(99.01)
    assert s.mean == 50.5
    assert s.rel_iqr == pytest.approx(49.5 / 50.5)
    assert s.unstable
    assert summarize(np.array([])) is None


def test_summary_stays_constructible_positionally():
    # The UI builds Summary(n, median, q1, q3) from its histogram: keep that working.
    s = Summary(10, 1.0, 0.96, 1.04)
    assert s.iqr == pytest.approx(0.08) and not s.unstable
    assert math.isnan(s.p90)


@pytest.mark.parametrize("spread, unstable", [(0.09, False), (0.11, True)])
def test_unstable_flag_at_ten_percent(spread, unstable):
    # 101 evenly spaced values: Q1 and Q3 fall on points 25 and 75, median on 50.
    s = summarize(1 + spread * np.linspace(-1, 1, 101))
    assert s.median == pytest.approx(1.0)
    assert s.rel_iqr == pytest.approx(spread, rel=1e-9)
    assert s.unstable is unstable
    assert UNSTABLE_IQR_RATIO == 0.10


def test_too_few_samples_is_unstable():
    assert summarize(np.ones(4)).unstable
    assert not summarize(np.ones(5)).unstable
    assert not is_stable(np.ones(20), min_samples=30)
    assert is_stable(np.ones(30), min_samples=30)


def test_outliers_are_marked_not_dropped():
    rng = np.random.default_rng(0)
    t = 1e-3 * (1 + 0.02 * rng.standard_normal(200))
    t[[50, 120]] = [5e-3, 40e-3]  # a GC pause and a retrace
    mask = outlier_mask(t)
    assert mask.tolist().count(True) == 2 and mask[50] and mask[120]
    # the median is that of all steps, outliers included
    assert summarize(t).median == pytest.approx(np.median(t))


def test_ordinary_tail_is_not_an_outlier():
    # A tight core with a long but modest tail (< 2x the median): jitter, not events.
    t = np.concatenate([np.full(900, 1.0), np.linspace(1.1, 1.7, 100)])
    assert not outlier_mask(t).any()
    assert not outlier_mask(np.ones(4) * [1, 1, 1, 100]).any()  # too few to judge


def test_bootstrap_constant_inputs_give_exact_interval():
    assert bootstrap_ratio_ci(np.full(50, 2.0), np.full(80, 1.0)) == (2.0, 2.0)


def test_bootstrap_exact_small_case():
    # Resampling {1, 2, 3} three times: median 1 with p = 7/27, 2 with 13/27, 3 with 7/27.
    # Against a constant 1, the 2.5 % and 97.5 % quantiles of the ratio are exactly 1 and 3.
    low, high = bootstrap_ratio_ci(np.array([1.0, 2.0, 3.0]), np.ones(10), n_boot=4000)
    assert (low, high) == (1.0, 3.0)


def test_bootstrap_is_seeded_and_ordered():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(20, 0.1, 300), rng.gamma(20, 0.05, 300)
    assert bootstrap_ratio_ci(a, b, seed=3) == bootstrap_ratio_ci(a, b, seed=3)
    low, high = bootstrap_ratio_ci(a, b)
    assert low <= np.median(a) / np.median(b) <= high


def test_bootstrap_width_matches_theory():
    # Median of n normal samples: standard error sigma * sqrt(pi / (2 n)). The bootstrap
    # width of a median varies from sample to sample, so average over a few data sets.
    n, sigma = 2000, 0.1
    widths = []
    for seed in range(8):
        a = 2.0 + sigma * np.random.default_rng(seed).standard_normal(n)
        low, high = bootstrap_ratio_ci(a, np.ones(n), seed=seed)
        widths.append(high - low)
    expected = 2 * 1.96 * sigma * math.sqrt(math.pi / (2 * n))
    assert np.mean(widths) == pytest.approx(expected, rel=0.2)


def test_bootstrap_coverage_is_about_95_percent():
    rng = np.random.default_rng(11)
    true_ratio = 1.5  # medians 1.5 and 1.0 (lognormal, median = exp(mu))
    hits = 0
    trials = 200
    for i in range(trials):
        a = np.exp(np.log(1.5) + 0.2 * rng.standard_normal(101))
        b = np.exp(0.2 * rng.standard_normal(101))
        low, high = bootstrap_ratio_ci(a, b, n_boot=400, seed=i)
        hits += low <= true_ratio <= high
    assert 0.88 <= hits / trials <= 0.99


def test_speedup_ratio_of_medians_with_ci():
    fast = np.full(100, 1e-3)
    slow = np.full(100, 3e-3)
    sp = speedup({"pytorch": fast, "tensorflow": slow})
    assert sp["faster"] == "pytorch" and sp["slower"] == "tensorflow"
    assert sp["ratio"] == pytest.approx(3.0)
    assert sp["ci95"] == [pytest.approx(3.0), pytest.approx(3.0)]
    assert sp["significant"] and not sp["unstable"]
    assert sp["medians_s"] == {"pytorch": 1e-3, "tensorflow": 3e-3}
    same = speedup({"a": np.array([1.0, 2.0, 3.0] * 10), "b": np.array([1.0, 2.0, 3.0] * 10)})
    assert same["ratio"] == 1.0 and not same["significant"]
    assert speedup({"a": np.array([]), "b": np.ones(3)}) is None


def test_hierarchical_bootstrap_sees_run_to_run_spread():
    rng = np.random.default_rng(5)
    # Within each run the ratio is tight, but runs disagree (1.3 .. 1.7).
    per_run = [1.3, 1.5, 1.7, 1.4, 1.6]
    runs_a = [r * (1 + 0.01 * rng.standard_normal(300)) for r in per_run]
    runs_b = [1 + 0.01 * rng.standard_normal(300) for _ in per_run]
    low, high = hierarchical_bootstrap_ratio_ci(runs_a, runs_b, n_boot=500)
    flat_low, flat_high = bootstrap_ratio_ci(np.concatenate(runs_a), np.concatenate(runs_b))
    assert high - low > 5 * (flat_high - flat_low)
    assert 1.3 <= low < 1.5 < high <= 1.7
    # identical constant runs: an exact interval
    assert hierarchical_bootstrap_ratio_ci([np.full(10, 2.0)] * 3, [np.ones(10)] * 3) == (2.0, 2.0)
    with pytest.raises(ValueError):
        hierarchical_bootstrap_ratio_ci([np.ones(3)], [])


@pytest.mark.parametrize("args, expected", [
    ((0.01, 0.010, 0.23, 0.004), 38),   # 1 + ceil(0.22 / 0.006) = 38
    ((0.01, 0.010, 0.01, 0.004), 1),    # no extra first-step cost
    ((0.01, 0.004, 0.23, 0.004), None),  # not faster per step: never pays off
    ((0.01, 0.004, 0.23, 0.005), None),
    ((0.01, 0.010, 0.07, 0.004), 11),   # exactly even after 10 more steps: 1 + 10
    ((0.01, 0.010, float("nan"), 0.004), None),
])
def test_breakeven_steps(args, expected):
    assert breakeven_steps(*args) == expected


def test_output_parity():
    a = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    p = output_parity({"pytorch": a, "tensorflow": a + np.float32(2**-20)}, batch_size=1)
    assert p["max_abs_diff"] == pytest.approx(2**-20) and p["within_tolerance"]
    assert p["max_rel_diff"] == pytest.approx(2**-20 / 3)
    bad = output_parity({"pytorch": a, "tensorflow": a + 0.1})
    assert not bad["within_tolerance"]
    shape = output_parity({"pytorch": a, "tensorflow": a[:, :2]})
    assert shape["within_tolerance"] is False and "shapes differ" in shape["error"]
    assert output_parity({"pytorch": a, "tensorflow": None}) is None


def test_long_runs_are_thinned_across_the_whole_run():
    # A run whose second half is slower: the interval must be centred on the whole run's
    # median, not on its tail.
    a = np.concatenate([np.full(5000, 1.0), np.full(5000, 1.2)])
    a += np.linspace(0, 1e-3, a.size)  # break ties
    b = np.ones(10_000)
    low, high = bootstrap_ratio_ci(a, b, n_boot=200)
    ratio = np.median(a) / np.median(b)
    assert low <= ratio <= high
    assert low < 1.2  # the tail alone would put the whole interval at >= 1.2


def test_parity_early_window_is_strict_and_whole_run_allows_drift():
    a = np.linspace(2.0, 0.5, 300)
    same = a * (1 + 1e-7)
    p = parity(a, same, "sgd")
    assert p["within_tolerance"] is True and p["early_steps"] == 50
    assert p["early_max_rel_loss_diff"] == pytest.approx(1e-7, rel=1e-3)
    early_off = same.copy()
    early_off[3] *= 1 + 5e-4  # a real mismatch shows early: refused
    assert parity(a, early_off, "sgd")["within_tolerance"] is False
    late_drift = same.copy()
    late_drift[250:] *= 1 + 5e-3  # round-off amplified by training, late in the run
    assert parity(a, late_drift, "sgd")["within_tolerance"] is True
    assert parity(a, late_drift * (1 + 0.05), "sgd")["within_tolerance"] is False
    # Adam is allowed more (stated in engines/comparison.py); inference allows almost nothing.
    assert parity(a, early_off, "adam")["within_tolerance"] is True
    assert parity(a, early_off, "sgd", task="infer")["within_tolerance"] is False
    nan = same.copy()
    nan[100] = np.nan
    assert parity(a, nan, "sgd")["within_tolerance"] is False
