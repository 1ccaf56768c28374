"""Paired-turn statistics on synthetic step streams with known ratio and known drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.pairing import (
    MIN_PAIRS,
    drift_of,
    paired_speedup,
    pooled_paired_speedup,
    t_cdf_abs,
    t_quantile,
    turn_medians,
)
from engines.stats import bootstrap_ratio_ci

# Two-sided 95 % critical values of Student's t (published tables).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228,
           20: 2.086, 30: 2.042, 100: 1.984}


@pytest.mark.parametrize("df,expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_published_table(df, expected):
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1.5e-3)


def test_t_cdf_is_monotone_and_bounded():
    for df in (1, 2, 3, 6, 7):
        values = [t_cdf_abs(t, df) for t in np.linspace(0, 2000, 400)]
        assert values[0] == 0.0
        assert all(b >= a - 1e-12 for a, b in zip(values, values[1:]))
        assert 0.99 < values[-1] <= 1.0


def simulate(rng, ratio: float, pairs: int, *, walk: float = 0.05, turn_noise: float = 0.04,
             step_noise: float = 0.10, steps_a: int = 40):
    """One run: turns in AB|BA order; a multiplicative machine factor that random-walks from
    turn to turn (common drift), an independent factor per turn (what a turn's conditions
    add), lognormal noise per step. Engine B is `ratio` times slower than A. Returns per
    engine (times, turn index) of steady steps."""
    level = 0.0
    out = {"a": ([], []), "b": ([], [])}
    for k in range(pairs):
        order = ("a", "b") if k % 2 == 0 else ("b", "a")
        for name in order:
            level += walk * rng.standard_normal()
            base = 1e-3 * (ratio if name == "b" else 1.0)
            n = steps_a if name == "a" else max(3, int(steps_a / ratio))
            factor = math.exp(level + turn_noise * rng.standard_normal())
            times = base * factor * np.exp(step_noise * rng.standard_normal(n))
            out[name][0].append(times)
            out[name][1].append(np.full(n, k))
    return {n: (np.concatenate(t), np.concatenate(i)) for n, (t, i) in out.items()}


def coverage(ratio: float, runs: int, pairs: int, seed: int = 1, process: float = 0.0,
             process_sd: float = 0.0, **machine):
    rng = np.random.default_rng(seed)
    paired_hits = step_hits = 0
    for _ in range(runs):
        run = simulate(rng, ratio, pairs, **machine)
        if process:  # each engine process keeps its own steady factor for the whole run
            run = {n: (t * math.exp(process * rng.standard_normal()), i)
                   for n, (t, i) in run.items()}
        meds = {n: turn_medians(t, np.ones(t.size, bool), i) for n, (t, i) in run.items()}
        sp = paired_speedup(meds, process_sd=process_sd)
        lo, hi = sp.ci95
        # Orient to b/a: the true ratio is `ratio` (b slower) or 1/ratio seen from b.
        if sp.slower == "b":
            paired_hits += lo <= ratio <= hi
        else:
            paired_hits += lo <= 1 / ratio <= hi
        blo, bhi = bootstrap_ratio_ci(run["b"][0], run["a"][0], n_boot=200, seed=0)
        step_hits += blo <= ratio <= bhi
    return paired_hits / runs, step_hits / runs


def test_paired_interval_covers_the_true_ratio_about_95_percent_under_drift():
    paired, steps = coverage(ratio=2.0, runs=400, pairs=8)
    # 400 runs: the binomial standard error of a 95 % coverage is 1.1 points.
    assert 0.915 <= paired <= 0.985, paired
    # The step-level bootstrap treats steps that share a turn's conditions as independent:
    # far too narrow (it covered 69 % of these runs).
    assert steps < 0.8 and paired - steps > 0.15, (paired, steps)


def test_a_a_interval_contains_one_about_95_percent_of_the_time():
    paired, _ = coverage(ratio=1.0, runs=400, pairs=6, seed=7)
    assert 0.915 <= paired <= 0.985, paired


def test_a_steady_per_process_difference_needs_the_process_term_and_gets_covered_with_it():
    # Each process keeps a 1 % (SD) factor of its own for its whole life: pairs cannot see it.
    # A quiet machine (little drift, little turn-to-turn change), as in the A/A runs measured.
    quiet = {"walk": 0.005, "turn_noise": 0.005}
    without, _ = coverage(ratio=1.0, runs=300, pairs=8, seed=11, process=0.01, **quiet)
    with_term, _ = coverage(ratio=1.0, runs=300, pairs=8, seed=11, process=0.01,
                            process_sd=0.01, **quiet)
    assert without < 0.85, without
    assert 0.9 <= with_term <= 0.99, with_term


def test_without_drift_or_turn_effects_both_methods_cover():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(200):
        run = simulate(rng, 1.5, 8, walk=0.0, turn_noise=0.0)
        meds = {n: turn_medians(t, np.ones(t.size, bool), i) for n, (t, i) in run.items()}
        lo, hi = paired_speedup(meds, process_sd=0.0).ci95
        hits += lo <= 1.5 <= hi
    assert hits / 200 >= 0.9


def test_the_estimate_is_the_geometric_mean_of_pair_ratios_and_names_the_faster():
    sp = paired_speedup({"pytorch": [1.0, 1.0, 2.0, 2.0], "tensorflow": [2.0, 3.0, 4.0, 8.0]})
    assert sp.faster == "pytorch" and sp.slower == "tensorflow"
    assert sp.pair_ratios == pytest.approx((2.0, 3.0, 2.0, 4.0))
    assert sp.ratio == pytest.approx((2 * 3 * 2 * 4) ** 0.25)
    lo, hi = sp.ci95
    assert lo < sp.ratio < hi
    # The other way round: same verdict.
    sp2 = paired_speedup({"tensorflow": [2.0, 3.0, 4.0, 8.0], "pytorch": [1.0, 1.0, 2.0, 2.0]})
    assert sp2.faster == "pytorch" and sp2.ratio == pytest.approx(sp.ratio)
    assert sp2.ci95 == pytest.approx(sp.ci95)


def test_turns_are_paired_by_number_not_by_position():
    # Engine b had no steady step in its turn 0 (compiling): pairs are turns 1 and 2 only.
    sp = paired_speedup({"a": {0: 1.0, 1: 1.0, 2: 1.0}, "b": {1: 2.0, 2: 4.0}})
    assert sp.pairs == 2 and sp.pair_ratios == pytest.approx((2.0, 4.0))


def test_too_few_pairs_give_no_interval_and_say_why():
    sp = paired_speedup({"a": [1.0, 1.1], "b": [2.0, 2.1, 2.2]})
    assert sp.pairs == 2 and sp.ci95 is None
    assert not sp.significant and not sp.confident()
    assert f"at least {MIN_PAIRS}" in sp.doubts()[0]


def test_confident_needs_a_tight_interval_and_enough_pairs():
    rng = np.random.default_rng(0)
    a = list(1e-3 * np.exp(0.01 * rng.standard_normal(12)))
    b = [2 * x * math.exp(0.01 * rng.standard_normal()) for x in a]
    sp = paired_speedup({"a": a, "b": b})
    assert sp.half_width < 0.05 and sp.confident(5.0)
    assert not sp.confident(0.1)
    assert not paired_speedup({"a": a[:4], "b": b[:4]}).confident(50.0)  # 4 < 5 pairs


def test_an_interval_that_crosses_one_is_a_doubt():
    sp = paired_speedup({"a": [1.0, 1.2, 0.9, 1.1], "b": [1.1, 1.0, 1.0, 1.05]})
    assert sp.ci95[0] <= 1.0
    assert any("includes 1" in d for d in sp.doubts())


def test_a_trend_in_the_pair_ratios_is_detected_and_a_flat_one_is_not():
    rng = np.random.default_rng(5)
    trend = np.linspace(0, 0.4, 20) + 0.01 * rng.standard_normal(20)
    d = drift_of(trend)
    assert d.trending and d.change > 0.3
    flat = 0.02 * rng.standard_normal(20)
    assert not drift_of(flat).trending
    assert drift_of(np.zeros(3)) is None
    a = [1.0] * 20
    b = list(np.exp(np.log(2) + trend))
    sp = paired_speedup({"a": a, "b": b})
    assert any("trend" in x for x in sp.doubts())


def test_turn_medians_use_steady_steps_only_and_skip_turns_without_one():
    times = np.array([9.0, 1.0, 1.2, 7.0, 2.0, 2.2, 5.0])
    steady = np.array([False, True, True, False, True, True, False])
    turns = np.array([0, 0, 0, 1, 1, 1, 2])
    assert turn_medians(times, steady, turns) == {0: 1.1, 1: 2.1}


def test_pooled_speedup_over_repeats_widens_with_run_to_run_spread():
    tight = pooled_paired_speedup([[0.69, 0.70], [0.70, 0.69], [0.69, 0.71]], ("a", "b"))
    loose = pooled_paired_speedup([[0.5, 0.5], [0.9, 0.9], [0.7, 0.7]], ("a", "b"))
    assert tight["faster"] == "a" and tight["ratio"] == pytest.approx(2.0, rel=0.02)
    assert (loose["ci95"][1] / loose["ci95"][0]) > (tight["ci95"][1] / tight["ci95"][0])
    assert pooled_paired_speedup([[0.7]], ("a", "b"))["ci95"] is None
