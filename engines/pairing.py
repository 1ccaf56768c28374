"""Paired measurement: the speed-up and its interval from interleaved turns of two engines.

Why turns, not steps. Step times on a shared machine drift (neighbours, clock frequency,
caches), so consecutive steps are not independent samples: a bootstrap over steps gave
intervals of +-3 % while reruns seconds apart moved the ratio by 38 % (measured on the 2-core
reference machine, issue 13). The unit that sees one set of machine conditions is a *turn
pair*: one turn of each engine, back to back, of equal measured time. Each pair gives one ratio
of the two engines' median step times; drift shared by both engines cancels inside the pair,
and whatever drift is left shows up as spread between pairs, which widens the interval instead
of biasing the estimate.

Method: a Student t interval on the mean of the log pair ratios, reported as a ratio (so the
estimate is the geometric mean of the pair ratios). Logs because a speed-up is multiplicative
(2x and 0.5x are symmetric); t rather than a bootstrap because runs have few pairs (5-30) and a
percentile bootstrap of so few units is too narrow (it cannot reach beyond the sample's range),
while the t interval is exact for normal log ratios and widens properly when n is small. The
turn order alternates A B | B A | A B ... (see engines.run.turns), so a linear drift within a
pair biases every other pair in the opposite direction and cancels in the mean.

Drift that the pairing cannot cancel (one engine slowing down relative to the other during the
run) shows as a trend of the log ratios over the pairs: a least-squares slope whose t statistic
is beyond the 99 % two-sided bound. It is reported, and the verdict is then in doubt.

Everything here is plain numpy and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Mapping, Sequence

from scenarios.lazy import np

LEVEL = 0.95
#: pairs needed before an interval is given at all (two pairs give a t interval, but one with
#: 1 degree of freedom: 12.7 standard errors wide; three is the least that says something).
MIN_PAIRS = 3
#: pairs needed before --until-confident may stop a run, however tight the interval.
MIN_CONFIDENT_PAIRS = 5
#: the default --until-confident target: half-width of the 95 % interval, relative.
DEFAULT_CONFIDENCE_PCT = 5.0
#: Between-process variation: two processes running the same code differ by a steady 1-3 %
#: for their whole life (memory placement, caches, the core they land on), which no pairing of
#: turns inside one run can see. Measured on the reference machine with
#: benchmarks/bench_calibration.py (mlp, one thread): 16 A/A runs (PyTorch against itself) had
#: run ratios of 1.001-1.030 with pair intervals of +-1.3 %, so a pairs-only interval
#: contained 1 in 69 % of them (log-ratio RMS 0.011 between runs); 16 A/B runs (PyTorch
#: against TensorFlow) had TF/PyTorch 2.38-2.56 (log-ratio SD 0.018 between runs, about 0.008
#: of it within-run noise), and a run's pairs-only interval contained the others' pooled ratio
#: in 56 %. This standard deviation of the log ratio (the A/B figure, the larger) is added to
#: every single run's interval as a random effect; --repeat measures it directly instead
#: (fresh processes for every repeat).
PROCESS_SD = 0.015
#: a trend of the pair ratios is reported when its slope's two-sided p-value is below this.
DRIFT_P = 0.01
#: ...and the fitted change across the run is larger than this (relative): a significant but
#: tiny trend (0.5 % over the run) does not put a verdict in doubt.
DRIFT_MIN_CHANGE = 0.03

METHOD = ("paired turns: each turn pair (one turn of each engine, equal measured time, order "
          "alternating AB/BA) gives the ratio of the two engines' median steady step times; "
          "the speed-up is the geometric mean of the pair ratios, its 95 % interval a Student "
          "t interval on the mean log ratio, widened by the between-process variation "
          f"(log-ratio SD {PROCESS_SD:g}, measured with A/A runs)")


def t_cdf_abs(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer `df` >= 1 (exact finite series, Abramowitz &
    Stegun 26.7.3-4), so no scipy is needed."""
    if t <= 0:
        return 0.0
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2 == 1:
        if df == 1:
            return 2 * theta / math.pi
        term, total = math.cos(theta), math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile(p: float, df: int) -> float:
    """The two-sided critical value t with P(|T| <= t) = p (e.g. p = 0.95, df = 4: 2.776)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    lo, hi = 0.0, 1.0
    while t_cdf_abs(hi, df) < p:
        hi *= 2
    for _ in range(200):  # bisection to float precision
        mid = (lo + hi) / 2
        if t_cdf_abs(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * hi:
            break
    return (lo + hi) / 2


def turn_medians(times: np.ndarray, steady: np.ndarray, turns: np.ndarray) -> dict[int, float]:
    """Median steady step time of each of an engine's turns, keyed by its turn number; turns
    without a steady step (the first turn's compile and warm-up, a step longer than the turn)
    are left out."""
    times = np.asarray(times, dtype=np.float64)
    steady = np.asarray(steady, dtype=bool)
    turns = np.asarray(turns, dtype=np.int64)
    return {int(k): float(np.median(times[steady & (turns == k)]))
            for k in np.unique(turns[steady])}


@dataclass(frozen=True)
class Drift:
    """A trend of the log pair ratios over the run (least-squares slope)."""

    slope_per_pair: float  # change of log ratio per pair
    p_value: float
    change: float  # fitted relative change of the ratio from the first pair to the last
    trending: bool

    def to_dict(self) -> dict[str, Any]:
        return {"slope_per_pair": self.slope_per_pair, "p_value": self.p_value,
                "change": self.change, "trending": self.trending}


def drift_of(log_ratios: np.ndarray) -> Drift | None:
    """Least-squares trend of the log ratios; None with fewer than 4 pairs."""
    y = np.asarray(log_ratios, dtype=np.float64)
    n = y.size
    if n < 4:
        return None
    x = np.arange(n, dtype=np.float64)
    x -= x.mean()
    sxx = float((x * x).sum())
    slope = float((x * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * x
    s2 = float((resid ** 2).sum()) / (n - 2)
    se = math.sqrt(s2 / sxx) if s2 > 0 else 0.0
    if se == 0.0:
        p = 0.0 if slope != 0 else 1.0
    else:
        p = 1.0 - t_cdf_abs(abs(slope) / se, n - 2)
    change = math.expm1(slope * (n - 1))
    return Drift(slope, p, change, bool(p < DRIFT_P and abs(change) > DRIFT_MIN_CHANGE))


@dataclass(frozen=True)
class PairedSpeedup:
    """Which engine is faster, by how much, and how sure: from paired turns.

    `ratio` >= 1 is slower/faster; `ci95` is its interval (None below MIN_PAIRS pairs);
    `pair_ratios` are each pair's slower/faster ratio, in order.
    """

    faster: str
    slower: str
    ratio: float
    ci95: tuple[float, float] | None
    pairs: int
    pair_ratios: tuple[float, ...]
    drift: Drift | None
    level: float = LEVEL
    method: str = METHOD
    medians_s: dict[str, float] = field(default_factory=dict)

    @property
    def half_width(self) -> float | None:
        """Relative half-width of the interval on the log scale (0.05 = +-5 %); None if no
        interval."""
        if self.ci95 is None:
            return None
        lo, hi = self.ci95
        return math.sqrt(hi / lo) - 1.0

    @property
    def significant(self) -> bool:
        """True when the whole interval is above 1: the faster engine is faster beyond doubt."""
        return self.ci95 is not None and self.ci95[0] > 1.0

    def confident(self, pct: float = DEFAULT_CONFIDENCE_PCT,
                  min_pairs: int = MIN_CONFIDENT_PAIRS) -> bool:
        """True when the interval's half-width is at most `pct` % and enough pairs are in."""
        hw = self.half_width
        return hw is not None and self.pairs >= min_pairs and hw <= pct / 100.0

    def doubts(self, pct: float | None = None) -> list[str]:
        """Why the verdict is in doubt (empty when it is not): the interval crosses 1, is
        wider than `pct` %, too few pairs, or the pair ratios trend during the run."""
        out = []
        if self.ci95 is None:
            out.append(f"only {self.pairs} turn pair(s): at least {MIN_PAIRS} are needed for "
                       "an interval")
            return out
        lo, hi = self.ci95
        if lo <= 1.0:
            out.append(f"the 95 % interval ({lo:.2f}-{hi:.2f}) includes 1: no clear "
                       "difference")
        if pct is not None and self.half_width is not None and self.half_width > pct / 100:
            out.append(f"the interval is +-{self.half_width:.1%} wide, more than the "
                       f"+-{pct:g} % asked for")
        if self.drift is not None and self.drift.trending:
            out.append(f"the turn ratios trend during the run ({self.drift.change:+.0%} from "
                       f"the first pair to the last, p={self.drift.p_value:.3f}): the machine "
                       "changed under one engine more than the other")
        return out

    def to_dict(self) -> dict[str, Any]:
        """As exported under comparison.speedup (with the step-level fields added by the
        caller)."""
        return {"faster": self.faster, "slower": self.slower, "ratio": self.ratio,
                "ci95": list(self.ci95) if self.ci95 else None, "level": self.level,
                "method": self.method, "significant": self.significant,
                "pairs": self.pairs, "pair_ratios": list(self.pair_ratios),
                "half_width": self.half_width,
                "drift": self.drift.to_dict() if self.drift else None,
                "medians_s": dict(self.medians_s)}


def log_interval(logs: np.ndarray, level: float = LEVEL) -> tuple[float, float, float] | None:
    """(mean, low, high) of the mean of `logs` with a t interval; None with < 2 values."""
    logs = np.asarray(logs, dtype=np.float64)
    n = logs.size
    if n == 0:
        return None
    mean = float(logs.mean())
    if n < 2:
        return mean, math.nan, math.nan
    se = float(logs.std(ddof=1)) / math.sqrt(n)
    half = t_quantile(level, n - 1) * se
    return mean, mean - half, mean + half


def paired_speedup(turns: dict[str, Mapping[int, float] | Sequence[float]],
                   level: float = LEVEL, min_pairs: int = MIN_PAIRS,
                   process_sd: float = PROCESS_SD) -> PairedSpeedup | None:
    """The speed-up of two engines from their per-turn median step times: the k-th turn of one
    engine is paired with the k-th turn of the other (mappings turn -> median, as
    turn_medians() gives; plain sequences are numbered from 0). None when there are not two
    engines or no complete pair.

    The interval's half-width on the log scale is sqrt(h_t^2 + (z * process_sd)^2): the t
    interval of the pairs and the between-process variation (PROCESS_SD), independent."""
    if len(turns) != 2:
        return None
    (na, ta), (nb, tb) = ((n, t if isinstance(t, Mapping) else dict(enumerate(t)))
                          for n, t in turns.items())
    common = sorted(set(ta) & set(tb))
    a = np.array([ta[k] for k in common], dtype=np.float64)
    b = np.array([tb[k] for k in common], dtype=np.float64)
    ok = (a > 0) & (b > 0) & np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size == 0:
        return None
    logs = np.log(b / a)  # > 0: b is slower
    mean, lo, hi = log_interval(logs, level)  # type: ignore[misc]
    if math.isfinite(lo) and process_sd > 0:
        z = NormalDist().inv_cdf((1 + level) / 2)
        half = math.hypot(hi - mean, z * process_sd)
        lo, hi = mean - half, mean + half
    if mean >= 0:
        faster, slower, sign = na, nb, 1.0
    else:
        faster, slower, sign = nb, na, -1.0
    pair_logs = sign * logs
    ci = None
    if a.size >= min_pairs and math.isfinite(lo):
        lo_r, hi_r = sorted((math.exp(sign * lo), math.exp(sign * hi)))
        ci = (lo_r, hi_r)
    return PairedSpeedup(
        faster=faster, slower=slower, ratio=math.exp(sign * mean), ci95=ci, pairs=int(a.size),
        pair_ratios=tuple(float(x) for x in np.exp(pair_logs)), drift=drift_of(pair_logs),
        level=level, medians_s={na: float(np.median(a)), nb: float(np.median(b))})


def pooled_paired_speedup(per_run_logs: Sequence[Sequence[float]], names: tuple[str, str],
                          level: float = LEVEL) -> dict[str, Any] | None:
    """The speed-up over repeated runs: each run's mean log pair ratio is one unit (so the
    interval includes run-to-run variation), t interval over the runs. `per_run_logs` are each
    run's log(second/first) pair ratios. None with no run that has a pair."""
    means = np.array([float(np.mean(r)) for r in per_run_logs if len(r)], dtype=np.float64)
    if means.size == 0:
        return None
    mean, lo, hi = log_interval(means, level)  # type: ignore[misc]
    first, second = names
    faster, slower, sign = (first, second, 1.0) if mean >= 0 else (second, first, -1.0)
    ci = None
    if means.size >= 2:
        ci = sorted((math.exp(sign * lo), math.exp(sign * hi)))
    return {"faster": faster, "slower": slower, "ratio": math.exp(sign * mean),
            "ci95": ci, "level": level, "runs": int(means.size),
            "run_ratios": [math.exp(sign * m) for m in means],
            "method": "paired turns, pooled over repeats: each repeat's mean log pair ratio is "
                      "one unit; Student t interval over the repeats"}
