"""What the dashboard shows, pulled from a RunState in increments. No Textual here.

The UI timer calls `DashboardModel.update(state)` at most ~10 times a second. Under the state's
lock it copies only the records added since the last call, feeds bounded summaries
(downsampled curves, live quantiles, the parity tracker) and releases the lock. Views are
plain frozen dataclasses, so a widget redraws only when its view actually changed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engines.distributed.report import replica_line
from engines.efficiency import datasheet_peak, efficiency_block, run_flops_per_step
from engines.hosting.protocol import EngineReport, Evaluation
from engines.pairing import DEFAULT_CONFIDENCE_PCT, paired_speedup
from engines.registry import engine_label
from engines.results.fairness import FairnessReport, fairness_of_state
from engines.results.verdicts import tolerances, trains_with_dropout
from engines.run.state import PHASE_CODE, RunState
from engines.settings import RunSettings
from scenarios import Scenario, ScenarioError

from .downsample import MinMaxDownsampler
from .formatting import eta_seconds
from .live_stats import ParityTracker, StatisticalParityTracker, StepTimeStats

STEADY = PHASE_CODE["steady"]
# Revisions are unique across models, so a chart never mistakes a new run for an old frame.
_REVISIONS = itertools.count(1)


@dataclass(frozen=True)
class EngineView:
    """Everything one engine column shows."""

    name: str
    label: str
    task: str  # "train" or "infer": infer shows per-batch latency percentiles
    version: str
    status: str
    stage: str  # lifecycle: importing, building, compiling, warm-up, running, ...
    error: str | None
    steps_done: int
    steps_total: int
    eta_s: float | None
    loss: float | None
    median_s: float | None  # = p50
    iqr_s: float | None
    p90_s: float | None
    p99_s: float | None
    samples_per_s: float | None
    unstable: bool | None
    first_step_s: float | None
    import_s: float | None
    prewarmed: bool  # the import happened in a pre-warmed process, before the run
    build_s: float | None
    peak_rss: int | None
    device_peak: int | None
    final: bool  # figures are the exact end-of-run ones
    # The latest evaluation on the held-out batches; None before the first (or without any).
    held_out: Evaluation | None = None
    evaluates: bool = False  # the scenario evaluates ([train] eval_every, training runs)
    # Achieved FLOP/s (catalogue FLOPs per step / median step time) and its share of the
    # engine's measured matmul peak; why there is no share; the datasheet share on a known GPU.
    achieved_flops: float | None = None
    share_of_peak: float | None = None
    peak_note: str = ""
    datasheet_share: float | None = None
    datasheet_model: str | None = None
    simulated: bool = False
    # Data-parallel replicas: 'N replicas: r0 12 ms · r1 12 ms' (None: one process).
    replicas: str | None = None
    # The input pipeline feeding the steps (memory: none, and no line for it), the share of
    # steady step time spent waiting for input, the first batch, the loader alone, workers.
    input_pipeline: str = "memory"
    input_wait_share: float | None = None
    input_first_batch_s: float | None = None
    loader_samples_per_s: float | None = None
    loader_workers: Any = None


@dataclass(frozen=True)
class ParityView:
    """The live loss difference against its tolerance."""

    available: bool  # two engines to compare
    steps_compared: int
    last_rel: float | None
    max_rel: float | None
    max_abs: float | None
    tolerance: float
    within: bool | None
    nonfinite: bool
    # The first `early_steps` steps must agree to `early_tolerance` (proof of identical work);
    # `tolerance` bounds the whole run's drift.
    early_max_rel: float | None = None
    early_tolerance: float | None = None
    # "exact" (step by step), or "statistical" (dropout active: smoothed curves within a band
    # of the starting loss; `tolerance` is the band, the differences are fractions of it).
    method: str = "exact"
    precision: str = "fp32"  # the tolerances are this precision's


@dataclass(frozen=True)
class SpeedupView:
    """Which engine is faster per steady-state step, by how much."""

    available: bool
    faster: str | None = None  # label
    slower: str | None = None
    ratio: float | None = None
    ci95: tuple[float, float] | None = None
    parity_failed: bool = False
    final: bool = False
    reason: str = ""
    partial: tuple[str, ...] = ()  # labels of engines that ended before their last step
    per: str = "step"  # "step" (train) or "batch" (infer: the ratio of p50 latencies)
    paired: bool = False  # ratio and interval from paired turns (engines.pairing)
    pairs: int = 0
    half_width: float | None = None  # of the interval, relative (0.05: +-5 %)
    # Seconds from the run's start until the interval was first within +-confidence_pct.
    confident_after_s: float | None = None
    confidence_pct: float = DEFAULT_CONFIDENCE_PCT
    doubts: tuple[str, ...] = ()  # why the verdict is in doubt (empty: it stands)


@dataclass(frozen=True)
class HardwareView:
    """The latest telemetry sample, as the hardware panel shows it."""

    enabled: bool
    gpu_status: str | None
    sample: dict[str, Any] | None
    labels: dict[str, str]
    peak_rss: dict[str, int] = field(default_factory=dict)
    device: str = "cpu"  # the run's device: per-engine GPU memory matters on "cuda" only
    # What each engine's framework says it holds on its GPU (its last report): shown where
    # NVML has no per-process figure.
    framework_mem: dict[str, int] = field(default_factory=dict)
    # Each engine's GPU by nvidia-smi index, where it reported one.
    engine_gpu: dict[str, int] = field(default_factory=dict)
    # Each real engine's energy block (engines.run.energy), as last reported: average power
    # and energy per sample over its steady steps, or why there is none.
    energy: dict[str, dict[str, Any]] = field(default_factory=dict)


# Fairness warnings the dashboard already shows elsewhere, kept off its fairness line:
# simulated engines and in-process hosting (the banner), an unstable measurement and an engine
# that stopped early (the speed-up line and the columns), loss parity (the parity meter).
SHOWN_ELSEWHERE = frozenset({"simulated", "process", "unstable", "status", "parity"})


@dataclass(frozen=True)
class FairnessView:
    """The fairness line: the first warning (or note) the rest of the dashboard does not show."""

    complete: bool  # every engine reported its settings
    headline: tuple[str, str] | None = None  # (level, text)
    more: int = 0  # further warnings and notes on the line's subject
    warnings: int = 0


@dataclass(frozen=True)
class FinalFigures:
    """Exact end-of-run figures, as in the results document."""

    summaries: dict[str, dict[str, Any]]
    parity: dict[str, Any] | None
    speedup: dict[str, Any] | None


def final_figures(doc: dict[str, Any]) -> FinalFigures:
    """The exact summaries, parity and speed-up of a finished run, read from its results
    document (engines.results.finish builds it once, for the export and for the screen)."""
    comparison = doc.get("comparison") or {}
    return FinalFigures({n: e["summary"] for n, e in doc["engines"].items()},
                        comparison.get("parity"), comparison.get("speedup"))


class EngineTrack:
    """The dashboard's bounded copy of one engine's progress."""

    def __init__(self, name: str, steps_total: int):
        self.name = name
        self.label = engine_label(name)
        self.steps_total = steps_total
        self.status = "pending"
        self.stage = "waiting"
        self.error: str | None = None
        self.report = EngineReport()
        self.seen = 0
        self.last_loss: float | None = None
        self.first_step_s: float | None = None
        self.first_wall: float | None = None
        self.last_wall: float | None = None
        self.loss_by_step = MinMaxDownsampler()
        self.loss_by_wall = MinMaxDownsampler()
        self.time_by_step = MinMaxDownsampler()
        self.time_by_wall = MinMaxDownsampler()
        self.stats = StepTimeStats()
        self.final: dict[str, Any] | None = None
        self.evaluations: list[Evaluation] = []
        # Input pipelines (native, naive): the share of steady step time spent waiting for
        # input so far (None: none yet, or batches in memory).
        self.input_wait_share: float | None = None
        # Paired turns: the median steady step time of each finished turn, and the steady
        # times of the turn in progress (bounded by one turn's steps).
        self.turn_medians: dict[int, float] = {}
        self.current_turn: int | None = None
        self.current_times: list[np.ndarray] = []
        self.measured_s = 0.0  # sum of every step's measured time so far

    def _close_turn(self) -> None:
        if self.current_turn is not None and self.current_times:
            times = np.concatenate(self.current_times)
            if times.size:
                self.turn_medians[self.current_turn] = float(np.median(times))
        self.current_times = []

    def ingest_turns(self, times: np.ndarray, codes: np.ndarray, turns: np.ndarray) -> None:
        """Group the new steady steps by turn; a turn is final once a later one begins."""
        steady = codes == STEADY
        for k in np.unique(turns):
            k = int(k)
            if k != self.current_turn:
                self._close_turn()
                self.current_turn = k
            self.current_times.append(times[steady & (turns == k)])

    def finished_turns(self) -> dict[int, float]:
        """Medians of the turns that are over (the last one too once the engine ended)."""
        if self.status not in ("pending", "running"):
            self._close_turn()
        return self.turn_medians

    def ingest(self, losses: np.ndarray, times: np.ndarray, wall: np.ndarray,
               codes: np.ndarray) -> None:
        """Take the records that arrived since the last call."""
        start = self.seen
        n = losses.size
        if n == 0:
            return
        self.seen += n
        self.measured_s += float(times.sum())
        self.last_loss = float(losses[-1])
        if start == 0:
            self.first_step_s = float(times[0])
            self.first_wall = float(wall[0])
        self.last_wall = float(wall[-1])
        steps = np.arange(start + 1, start + n + 1, dtype=np.float64)  # step numbers, from 1
        self.loss_by_step.extend(losses, steps)
        self.loss_by_wall.extend(losses, wall)
        # The first step (trace/compile) is shown as a figure, not in the step-time chart,
        # where it would flatten every other step against the axis.
        skip = 1 if start == 0 else 0
        self.time_by_step.extend(times[skip:], steps[skip:])
        self.time_by_wall.extend(times[skip:], wall[skip:])
        self.stats.add(times[codes == STEADY])


class DashboardModel:
    """Pulls a RunState into bounded summaries and turns them into views."""

    def __init__(self, scenario: Scenario, settings: RunSettings, engine_names: list[str],
                 telemetry: bool = True):
        self.scenario = scenario
        self.settings = settings
        self.telemetry_enabled = telemetry
        self.tracks = {n: EngineTrack(n, settings.steps) for n in engine_names}
        self.parity: ParityTracker | StatisticalParityTracker
        early, drift = tolerances(scenario.train.optimizer, settings.task, settings.precision)
        if settings.task == "infer":
            self.parity = ParityTracker(drift)
        elif trains_with_dropout(scenario, settings.task):
            self.parity = StatisticalParityTracker()
        else:
            self.parity = ParityTracker(drift, early)
        try:
            self.flops_per_step: int | None = run_flops_per_step(
                scenario, settings.batch_size, settings.task)
        except (ScenarioError, ValueError, KeyError):
            self.flops_per_step = None
        self.version = -1
        self.revision = next(_REVISIONS)  # changes whenever anything visible changed
        self.finished = False
        self.final: FinalFigures | None = None
        self.gpu_status: str | None = None
        self.sample: dict[str, Any] | None = None
        self.samples_seen = 0
        self.peak_rss: dict[str, int] = {}
        self.fairness: FairnessReport | None = None
        self._fairness_key: tuple | None = None
        # Live paired verdict: seconds of measuring (both engines' step times added up) until
        # its interval was first within +-DEFAULT_CONFIDENCE_PCT.
        self.confident_after_s: float | None = None

    @property
    def per(self) -> str:
        """What one timed step is: a training 'step' or an inference 'batch'."""
        return "batch" if self.settings.task == "infer" else "step"

    @property
    def names(self) -> list[str]:
        """Engine names in column order."""
        return list(self.tracks)

    # -- pulling from the run ------------------------------------------------------------
    def update(self, state: RunState) -> bool:
        """Copy what changed since the last call; True when the views may have changed."""
        with state.lock:
            if state.version == self.version:
                return False
            self.version = state.version
            for name, es in state.engines.items():
                tr = self.tracks.get(name)
                if tr is None:
                    continue
                tr.status, tr.stage, tr.error, tr.report = es.status, es.stage, es.error, \
                    es.report
                n = len(es.losses)
                if n > tr.seen:
                    a = tr.seen
                    times = np.array(es.times[a:n])
                    codes = np.array(es.phase_codes[a:n], np.int8)
                    tr.ingest(np.array(es.losses[a:n]), times, np.array(es.wall[a:n]), codes)
                    tr.ingest_turns(times, codes, np.array(es.turns[a:n], np.int64))
                if len(es.evaluations) > len(tr.evaluations):
                    tr.evaluations.extend(es.evaluations[len(tr.evaluations):])
                if len(es.input_waits):
                    tr.input_wait_share = es.input_wait_share()
            names = self.names
            if len(names) == 2:
                ea, eb = (state.engines[n] for n in names)
                common = min(len(ea.losses), len(eb.losses))
                c = self.parity.compared
                if common > c:
                    self.parity.add(np.array(ea.losses[c:common]), np.array(eb.losses[c:common]))
            self.gpu_status = state.gpu_status
            if len(state.telemetry) > self.samples_seen:
                for s in state.telemetry[self.samples_seen:]:
                    for name, e in (s.get("engines") or {}).items():
                        rss = e.get("rss")
                        if rss is not None and rss > self.peak_rss.get(name, 0):
                            self.peak_rss[name] = rss
                self.samples_seen = len(state.telemetry)
                self.sample = state.telemetry[-1]
            self.finished = state.finished
            # The fairness report changes only when an engine reports or ends: recompute then.
            fairness_key = tuple((es.status, len(es.report.stages_s), bool(es.report.config))
                                 for es in state.engines.values())
        if fairness_key != self._fairness_key:
            self._fairness_key = fairness_key
            self.fairness = fairness_of_state(state)
        self.revision = next(_REVISIONS)
        return True

    def apply_final(self, final: FinalFigures) -> None:
        """Replace the live figures by the exact end-of-run ones."""
        self.final = final
        for name, summary in final.summaries.items():
            if name in self.tracks:
                self.tracks[name].final = summary
        self.revision = next(_REVISIONS)

    # -- views ---------------------------------------------------------------------------
    def engine_view(self, name: str) -> EngineView:
        """The figures of one engine column."""
        tr = self.tracks[name]
        rep = tr.report
        stages, memory = rep.stages_s, rep.memory
        version = ""
        if rep.versions:
            k, v = next(iter(rep.versions.items()))
            version = f"{k} {v}"
        if tr.final is not None:
            f = tr.final
            median, iqr, sps, unstable = (f["median_step_s"], f["iqr_step_s"],
                                          f["samples_per_s"], f["unstable"])
            p90, p99 = f.get("p90_step_s"), f.get("p99_step_s")
        else:
            s = tr.stats.summary()
            median = s.median if s else None
            iqr = s.iqr if s else None
            p90 = finite_or_none(s.p90) if s else None
            p99 = finite_or_none(s.p99) if s else None
            sps = self.settings.batch_size / median if median else None
            unstable = s.unstable if s else None
        running = tr.status in ("pending", "running")
        eta = eta_seconds(tr.seen, tr.steps_total, tr.first_wall, tr.last_wall) \
            if running else None
        rss = memory.get("host_peak_rss")
        if rss is None:
            rss = self.peak_rss.get(name)
        config = rep.config or {}
        eff = efficiency_block(self.flops_per_step, median, config.get("peak"),
                               datasheet_peak(config.get("gpu_name"), self.settings.precision))
        return EngineView(
            name=name, label=tr.label, task=self.settings.task, version=version,
            status=tr.status, stage=tr.stage,
            error=tr.error, steps_done=tr.seen, steps_total=tr.steps_total, eta_s=eta,
            loss=tr.last_loss, median_s=median, iqr_s=iqr, p90_s=p90, p99_s=p99,
            samples_per_s=sps, unstable=unstable, first_step_s=tr.first_step_s,
            import_s=stages.get("import"), prewarmed=rep.prewarmed,
            build_s=stages.get("build"), peak_rss=rss,
            device_peak=memory.get("device_peak"), final=tr.final is not None,
            held_out=tr.evaluations[-1] if tr.evaluations else None,
            evaluates=self.evaluates,
            achieved_flops=eff["achieved_flops"], share_of_peak=eff["share_of_peak"],
            peak_note=peak_note(config.get("peak")),
            datasheet_share=eff.get("share_of_datasheet_peak"),
            datasheet_model=eff.get("datasheet_model"),
            simulated=bool(config.get("simulated")),
            replicas=replica_line(config.get("distributed")),
            input_pipeline=self.settings.input_pipeline,
            input_wait_share=tr.input_wait_share,
            input_first_batch_s=stages.get("first_batch"),
            loader_samples_per_s=(config.get("input") or {}).get("loader_samples_per_s"),
            loader_workers=((config.get("input") or {}).get("config") or {}).get("workers"),
        )

    @property
    def evaluates(self) -> bool:
        """True when the engines evaluate on held-out batches in this run."""
        return self.scenario.train.eval_every is not None and self.settings.task == "train"

    def parity_view(self) -> ParityView:
        """Loss parity: live tracker, or the exact end-of-run figures."""
        p = self.parity
        available = len(self.tracks) == 2
        fin = self.final.parity if self.final else None
        if fin is not None:
            return ParityView(available, fin["steps_compared"], p.last_rel,
                              fin["max_rel_loss_diff"], fin["max_abs_loss_diff"],
                              fin["tolerance"], fin["within_tolerance"], p.nonfinite,
                              fin.get("early_max_rel_loss_diff"), fin.get("early_tolerance"),
                              method=fin.get("method", "exact"),
                              precision=self.settings.precision)
        return ParityView(available, p.compared, p.last_rel, p.max_rel, p.max_abs,
                          p.tolerance, p.within_tolerance, p.nonfinite,
                          p.early_max_rel, p.early_tolerance, method=p.method,
                          precision=self.settings.precision)

    def speedup_view(self) -> SpeedupView:
        """The speed-up line: final (read from the results document) or live (paired turns
        once there are enough, medians before)."""
        if len(self.tracks) != 2:
            return SpeedupView(False, reason="needs two engines")
        par = self.parity_view()
        # A NaN loss is a failure of that engine, not a sign the engines did different work.
        parity_failed = par.within is False and not par.nonfinite
        partial = tuple(t.label for t in self.tracks.values()
                        if t.status in ("failed", "cancelled", "unavailable"))
        if self.final is not None:
            sp = self.final.speedup
            if sp is None:
                return SpeedupView(False, reason="not enough steady-state steps to compare",
                                   final=True)
            until = sp.get("until_confident") or {}
            confident_after = until.get("confident_after_s", self.confident_after_s)
            return SpeedupView(
                True, engine_label(sp["faster"]), engine_label(sp["slower"]), sp["ratio"],
                (sp["ci95"][0], sp["ci95"][1]), parity_failed, True, partial=partial,
                per=self.per, paired=bool(sp.get("paired")), pairs=sp.get("pairs") or 0,
                half_width=sp.get("half_width"),
                confident_after_s=confident_after if sp.get("paired") else None,
                confidence_pct=sp.get("confidence_pct") or DEFAULT_CONFIDENCE_PCT,
                doubts=tuple(sp.get("doubts") or ()))
        if self.settings.schedule == "alternate":
            turns = {t.label: t.finished_turns() for t in self.tracks.values()}
            paired = paired_speedup(turns)
            if paired is not None and paired.ci95 is not None:
                if self.confident_after_s is None and paired.confident():
                    self.confident_after_s = sum(t.measured_s for t in self.tracks.values())
                return SpeedupView(
                    True, paired.faster, paired.slower, paired.ratio, paired.ci95,
                    parity_failed, False, partial=partial, per=self.per, paired=True,
                    pairs=paired.pairs, half_width=paired.half_width,
                    confident_after_s=self.confident_after_s, doubts=tuple(paired.doubts()))
        sums = {n: t.stats.summary() for n, t in self.tracks.items()}
        if any(s is None or s.median <= 0 for s in sums.values()):
            return SpeedupView(False, reason="waiting for steady-state steps on both engines")
        (na, sa), (nb, sb) = sums.items()
        fast, slow = (na, nb) if sa.median <= sb.median else (nb, na)
        ratio = max(sa.median, sb.median) / min(sa.median, sb.median)
        return SpeedupView(True, self.tracks[fast].label, self.tracks[slow].label, ratio, None,
                           parity_failed, False, partial=partial, per=self.per)

    def fairness_view(self) -> FairnessView:
        """The dashboard's fairness line (the full report is `self.fairness`)."""
        report = self.fairness
        if report is None:
            return FairnessView(False)
        complete = all("?" not in v for r in report.rows if r.key == "mode"
                       for v in r.values.values())
        items = [w for w in report.warnings if w.key not in SHOWN_ELSEWHERE]
        items.sort(key=lambda w: w.level != "warning")  # warnings first, in report order
        if not items:
            return FairnessView(complete)
        first = items[0]
        return FairnessView(complete, (first.level, first.text), len(items) - 1,
                            sum(w.level == "warning" for w in items))

    def hardware_view(self) -> HardwareView:
        """Latest telemetry, for the hardware panel."""
        framework_mem, engine_gpu, energy = {}, {}, {}
        for n, t in self.tracks.items():
            memory = t.report.memory or {}
            held = memory.get("device_current") or memory.get("device_peak")
            if held:
                framework_mem[n] = held
            config = t.report.config or {}
            index = config.get("gpu_index")
            if isinstance(index, int):
                engine_gpu[n] = index
            # Simulated engines measure no energy: nothing to say for them.
            if isinstance(config.get("energy"), dict) and not config.get("simulated"):
                energy[n] = config["energy"]
        return HardwareView(self.telemetry_enabled, self.gpu_status, self.sample,
                            {n: t.label for n, t in self.tracks.items()}, dict(self.peak_rss),
                            self.settings.device, framework_mem, engine_gpu, energy)

    def step_time_cap(self) -> float | None:
        """Top of the step-time chart: high enough for normal jitter, low enough that one
        garbage-collection pause does not flatten everything else (spikes are clipped)."""
        caps = []
        for t in self.tracks.values():
            s = t.stats.summary()
            if s is not None and s.median > 0:
                caps.append(s.q3 + 6 * max(s.iqr, 0.05 * s.median))
        return max(caps) if caps else None

    def step_extent(self) -> float:
        """x-axis end in step mode: the run's steps, or further where paired turns took the
        faster engine past them."""
        return float(max(1, self.settings.steps, *(t.seen for t in self.tracks.values())))

    def wall_extent(self) -> float:
        """Latest wall time any engine has reached (x-axis end in wall-time mode)."""
        walls = [t.last_wall for t in self.tracks.values() if t.last_wall is not None]
        return max(walls) if walls else 1.0


def peak_note(peak: dict[str, Any] | None) -> str:
    """Why an engine has no share of peak yet, in a few words ('' when it has a peak)."""
    if not peak:
        return "peak not reported yet"
    if peak.get("flops_per_s"):
        return ""
    reason = str(peak.get("reason") or "not measured")
    if reason.startswith("measuring"):  # in the engine's first turn; the report comes at the end
        return "peak: measured this run, shown at the end"
    return "peak n/a (simulated)" if reason.startswith("simulated") else f"peak n/a ({reason})"


def finite_or_none(x: float | None) -> float | None:
    """x if it is a finite number, else None."""
    return x if x is not None and math.isfinite(x) else None
