"""The fairness report: what each engine ran with, what the run did to keep the comparison fair,
and visible warnings wherever the two sides differ in something that changes speed.

Pure functions over an export document (or a live RunState): no framework, no UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scenarios.dropout import DROPOUT

from ..distributed.report import distributed_measures, distributed_rows, distributed_warnings
from ..efficiency import CONVENTION, PEAK_METHOD
from ..precision import INITIAL_LOSS_SCALE, precision_mode
from ..registry import engine_label, info_of
from ..run.state import RunState
from ..stats import MIN_SAMPLES, UNSTABLE_IQR_RATIO
from .summary import engine_summary
from .verdicts import STATISTICAL_NOTE


@dataclass(frozen=True)
class FairnessRow:
    """One property across engines. `values` are display strings keyed by engine name."""

    key: str
    label: str
    values: dict[str, str]
    differs: bool
    affects_speed: bool

    @property
    def flagged(self) -> bool:
        """True when the sides differ in something that changes speed (show it in red)."""
        return self.differs and self.affects_speed


@dataclass(frozen=True)
class FairnessWarning:
    """level: 'warning' (the comparison is skewed or in doubt) or 'note' (worth knowing)."""

    level: str
    key: str
    text: str


@dataclass
class FairnessReport:
    engines: list[str]
    rows: list[FairnessRow] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    warnings: list[FairnessWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engines": list(self.engines),
            "rows": [{"key": r.key, "label": r.label, "values": r.values, "differs": r.differs,
                      "affects_speed": r.affects_speed} for r in self.rows],
            "measures": list(self.measures),
            "warnings": [{"level": w.level, "key": w.key, "text": w.text}
                         for w in self.warnings],
        }


def _sync_note(impl: Any) -> str:
    """How an engine synchronises before the clock is read (the registry's note), or '?'."""
    try:
        return info_of(str(impl)).sync_note
    except ValueError:
        return "?"


def _label(name: str) -> str:
    return engine_label(name)


def _onoff(v: Any) -> str:
    return "?" if v is None else ("on" if v else "off")


def _device(v: Any) -> str:
    text = str(v or "?").lower().lstrip("/")
    if text.startswith(("gpu", "cuda")):
        idx = text.split(":", 1)[1] if ":" in text else "0"
        return f"GPU {idx}"
    if text.startswith("cpu"):
        return "CPU"
    return str(v or "?")


def _device_of(c: dict[str, Any]) -> str:
    """The device an engine ran on: a GPU by its nvidia-smi index where the engine mapped it
    (TensorFlow's one visible GPU is always its /GPU:0, PyTorch's is cuda:N), else by name."""
    if not c:
        return "?"
    if c.get("gpu_index") is not None:
        return f"GPU {c['gpu_index']}"
    if c.get("gpu_ordinal") is not None:
        return f"GPU (CUDA device {c['gpu_ordinal']})"
    return _device(c.get("device"))


def _versions_pair(c: dict[str, Any]) -> str:
    if "cuda_version" not in c and "cudnn_version" not in c:
        return "?"
    return f"CUDA {c.get('cuda_version') or '-'} / cuDNN {c.get('cudnn_version') or '-'}"


# GPU facts, each a row only when some engine reported one of its config keys (CPU runs keep
# the rows they had): (key, label, config keys, value of an engine's config, changes speed).
GPU_ROWS: list[tuple[str, str, tuple[str, ...], Any, bool]] = [
    ("gpu_name", "GPU model", ("gpu_name",), lambda c: str(c.get("gpu_name") or "?"), True),
    ("cuda", "CUDA / cuDNN", ("cuda_version", "cudnn_version"), _versions_pair, False),
    ("cudnn_autotune", "cuDNN autotune", ("cudnn_autotune",),
     lambda c: _onoff(c.get("cudnn_autotune")), True),
    ("lstm_kernel", "LSTM/GRU kernel", ("lstm_kernel",),
     lambda c: str(c.get("lstm_kernel") or "?"), True),
    ("loss_scale", "loss scale", ("loss_scale",), lambda c: str(c.get("loss_scale") or "none"),
     True),
]


def _dtype_of(c: dict[str, Any], settings: dict[str, Any]) -> str:
    """What an engine computed in. An engine that does not report its precision (the fake
    engine, runs saved before precision modes) is taken at the run's setting."""
    precision = settings.get("precision", "fp32")
    if "precision" in c or precision == "fp32":
        return str(c.get("dtype", settings.get("dtype", "?")))
    try:
        return precision_mode(str(precision)).describe
    except ValueError:
        return str(precision)


def _mode_family(mode: str) -> str:
    m = (mode or "").lower()
    if m == "?":
        return "?"
    return "eager" if m == "eager" else "compiled"


def _version(name: str, versions: dict[str, Any]) -> str:
    if not versions:
        return "?"
    for key in ("torch", "tensorflow"):
        if key in versions:
            text = f"{key} {versions[key]}"
            if key == "tensorflow" and versions.get("keras"):
                text += f" (keras {versions['keras']})"
            return text
    fakes = [f"{k} {v}" for k, v in versions.items() if k.startswith("fake")]
    return ", ".join(fakes) + " (simulated)" if fakes else \
        ", ".join(f"{k} {v}" for k, v in versions.items() if k != "numpy")


def fairness_report(doc: dict[str, Any]) -> FairnessReport:
    """The fairness report of a results document (schema 1, any version of it).

    Works on partial documents too (a live run, an engine that failed before reporting):
    what is unknown shows as '?' and never raises.
    """
    engines: dict[str, Any] = doc.get("engines") or {}
    settings: dict[str, Any] = doc.get("settings") or {}
    names = list(engines)
    report = FairnessReport(names)
    cfg = {n: (engines[n].get("config") or {}) for n in names}
    ver = {n: (engines[n].get("versions") or {}) for n in names}
    bs = settings.get("batch_size")

    def threads(c: dict[str, Any]) -> str:
        if "intra_op_threads" not in c:
            return "?"
        return f"{c.get('intra_op_threads')} intra-op / {c.get('inter_op_threads', '?')} inter-op"

    isolation = settings.get("isolation", "process")
    specs: list[tuple[str, str, Any, bool]] = [
        ("version", "framework version", lambda n: _version(n, ver[n]), False),
        ("device", "device", lambda n: _device_of(cfg[n]), True),
        ("dtype", "dtype", lambda n: _dtype_of(cfg[n], settings), True),
        ("threads", "threads", lambda n: threads(cfg[n]), True),
        ("mode", "mode", lambda n: str(cfg[n].get("mode", "?")), True),
        ("tf32", "TF32", lambda n: _onoff(cfg[n].get("tf32")), True),
        ("onednn", "oneDNN", lambda n: _onoff(cfg[n].get("onednn")), True),
        ("xla", "XLA", lambda n: _onoff(cfg[n].get("xla")), True),
        ("batch_size", "batch size", lambda n: str(cfg[n].get("batch_size", bs)), True),
        ("sync", "synchronisation",
         lambda n: _sync_note(engines[n].get("implementation") or n), False),
        ("process", "hosting",
         lambda n: ("own child process" if isolation == "process"
                    else "thread in the app's process"), False),
    ]
    pipeline = _pipeline_of(settings)
    if pipeline != "memory":  # the input pipelines are what is compared: named, not flagged
        specs.append(("input", "input pipeline",
                      lambda n: pipeline_text(_input_config(engines[n], cfg[n])), False))
    for key, label, sources, value, matters in GPU_ROWS:
        if any(src in cfg[n] for n in names for src in sources):
            specs.append((key, label, lambda n, value=value: value(cfg[n]), matters))
    specs += distributed_rows(engines)
    for key, label, get, matters in specs:
        values = {n: get(n) for n in names}
        known = [v for v in values.values() if "?" not in v]
        if key == "mode":
            families = {_mode_family(v) for v in known}
            differs = len(families) > 1
        else:
            differs = len(set(known)) > 1
        report.rows.append(FairnessRow(key, label, values, differs, matters))

    report.measures = _measures(doc, names)
    report.warnings = _warnings(doc, names, report.rows, cfg)
    return report


def _measures(doc: dict[str, Any], names: list[str]) -> list[str]:
    settings = doc.get("settings") or {}
    scenario = doc.get("scenario") or {}
    train = scenario.get("train") or {}
    data = scenario.get("data") or {}
    seed = settings.get("seed", data.get("seed", "?"))
    bs = settings.get("batch_size", "?")
    out = [
        f"same initial weights: generated once in numpy (seed {seed}) and loaded into every "
        "engine, converted to each framework's layout",
        f"same batches in the same order: one seeded shuffle of {data.get('samples', '?')} "
        f"samples in batches of {bs}, materialised on the device before timing"
        if _pipeline_of(settings) == "memory" else input_measure(_pipeline_of(settings), bs),
    ]
    if train:
        out.append(f"same hyper-parameters: {train.get('optimizer', '?')}, learning rate "
                   f"{train.get('learning_rate', '?')}, loss {train.get('loss', '?')}")
    syncs = [f"{_label(n)}: {note}" for n in names
             if (note := _sync_note(doc['engines'][n].get('implementation') or n)) != "?"]
    if syncs:
        out.append("synchronised before every clock read (perf_counter): " + "; ".join(syncs))
    sched = settings.get("schedule", "alternate")
    if sched == "alternate":
        out.append("paired turns: the engines take turns of equal measured time (0.2 s up to "
                   f"{settings.get('slice_s', 1.0):g} s) in the order A B | B A | ..., so every "
                   "turn has a neighbour turn of the other under the same machine conditions; "
                   "the speed-up's interval comes from the turn pairs, and the first step "
                   "after each switch is kept out of the statistics")
    elif sched == "sequential":
        out.append("engines ran one after the other (sequential), never at the same time; "
                   "unpaired, so the interval ignores drift")
    else:
        out.append("engines ran at the same time (parallel): contended, labelled so")
    precision = settings.get("precision", "fp32")
    if precision in ("bf16", "fp16"):
        scale = (f"; the same dynamic loss scale from {INITIAL_LOSS_SCALE:g} on both"
                 if precision == "fp16" else "")
        out.append(f"same precision: {precision} on both (torch.autocast around forward and "
                   "loss; a Keras mixed dtype policy), variables float32, logits cast to "
                   f"float32 for the loss{scale}")
    elif precision == "tf32":
        out.append("same precision: float32 with TF32 matmuls and convolutions on both")
    out.append(f"FLOP counting: {CONVENTION}")
    out.append(f"share of peak: {PEAK_METHOD}")
    out.append(f"first step (trace/compile) and {settings.get('warmup_steps', '?')} warm-up "
               "steps reported separately; statistics use steady-state steps only (median, IQR)")
    if settings.get("isolation", "process") == "process":
        out.append("each engine in its own process: imports, thread settings and memory apart")
    if settings.get("threads"):
        out.append(f"same thread budget: {settings['threads']} intra-op thread(s) per engine")
    out += distributed_measures(doc)
    par = (doc.get("comparison") or {}).get("parity") or {}
    if par.get("method") == "statistical":
        out.append("work checked statistically (dropout: the frameworks' masks differ): moving "
                   "medians of the loss curves compared against a band")
    elif par.get("steps_compared"):
        out.append(f"identical work checked: loss compared at every step over "
                   f"{par['steps_compared']} steps, max relative difference "
                   f"{par['max_rel_loss_diff']:.1e}" if par.get("max_rel_loss_diff") is not None
                   else "identical work checked: loss compared at every step")
    return out


def _warnings(doc: dict[str, Any], names: list[str], rows: list[FairnessRow],
              cfg: dict[str, dict[str, Any]]) -> list[FairnessWarning]:
    settings = doc.get("settings") or {}
    engines = doc.get("engines") or {}
    comparison = doc.get("comparison") or {}
    out: list[FairnessWarning] = []
    by_key = {r.key: r for r in rows}

    def on_only(key: str) -> list[str]:
        return [n for n, v in by_key[key].values.items() if v == "on"]

    if len(names) == 2:
        row = by_key["xla"]
        if row.differs:
            (only,) = on_only("xla") or [names[0]]
            out.append(FairnessWarning("warning", "xla",
                       f"XLA on {_label(only)} only: its steps are XLA-compiled, the other's are "
                       "not; not like with like"))
        row = by_key["tf32"]
        if row.differs:
            (only,) = on_only("tf32") or [names[0]]
            out.append(FairnessWarning("warning", "tf32",
                       f"TF32 on {_label(only)} only: its float32 matmuls use TF32 (faster, "
                       "less exact)"))
        if by_key["onednn"].differs:
            only = on_only("onednn")
            out.append(FairnessWarning("warning", "onednn",
                       f"oneDNN on {', '.join(_label(n) for n in only) or 'one side'} only: "
                       "CPU kernels differ"))
        if by_key["threads"].differs:
            out.append(FairnessWarning("warning", "threads", "different thread budgets: " +
                       ", ".join(f"{_label(n)} {v}" for n, v in by_key["threads"].values.items())))
        if by_key["mode"].differs:
            out.append(FairnessWarning("warning", "mode", "not like with like: " + " vs ".join(
                f"{_label(n)} {v}" for n, v in by_key["mode"].values.items())))
        if by_key["device"].differs:
            out.append(FairnessWarning("warning", "device", "engines on different devices: " +
                       ", ".join(f"{_label(n)} {v}" for n, v in by_key["device"].values.items())))
        row = by_key.get("cudnn_autotune")
        if row is not None and row.differs:
            out.append(FairnessWarning("warning", "cudnn_autotune",
                       "cuDNN autotuning on " + ", ".join(_label(n) for n in on_only(
                           "cudnn_autotune")) + " only: its convolutions use the fastest "
                       "algorithm found, the other's the heuristic choice"))
        row = by_key.get("lstm_kernel")
        if row is not None and row.differs:
            out.append(FairnessWarning("warning", "lstm_kernel", "different LSTM/GRU kernels: " +
                       ", ".join(f"{_label(n)} {v}" for n, v in row.values.items())))
        row = by_key.get("loss_scale")
        if row is not None and row.differs:
            out.append(FairnessWarning("warning", "loss_scale", "different loss scaling: " +
                       ", ".join(f"{_label(n)} {v}" for n, v in row.values.items())))
        row = by_key.get("gpu_name")
        if row is not None and row.differs:
            out.append(FairnessWarning("warning", "gpu_name", "engines on different GPU "
                       "models: " + ", ".join(f"{_label(n)} {v}" for n, v in row.values.items())))
        for key in ("dtype", "batch_size"):
            if by_key[key].differs:
                out.append(FairnessWarning("warning", key, f"different {by_key[key].label}: " +
                           ", ".join(f"{_label(n)} {v}" for n, v in by_key[key].values.items())))
    out.extend(_gpu_warnings(settings, names, cfg))
    out.extend(FairnessWarning("warning", key, text) for key, text in distributed_warnings(doc))
    for n in names:
        note = cfg[n].get("note")
        if note:
            out.append(FairnessWarning("note", "mode", f"{_label(n)}: {note}"))
    if settings.get("schedule") == "parallel":
        out.append(FairnessWarning("warning", "schedule",
                   "contended: both engines ran at once and competed for cores and memory "
                   "bandwidth"))
    if settings.get("isolation") == "thread":
        out.append(FairnessWarning("note", "process",
                   "in-process: both frameworks share one process (memory figures mixed, "
                   "Python's GIL shared)"))
    if any(c.get("simulated") for c in cfg.values()) or any(
            str(e.get("implementation", "")).startswith("fake") for e in engines.values()):
        out.append(FairnessWarning("warning", "simulated",
                   "simulated engines (--fake): these figures are not measurements"))
    for n in names:
        e = engines[n]
        status = e.get("status")
        if status not in (None, "done", "running", "pending"):
            out.append(FairnessWarning("warning", "status",
                       f"{_label(n)} {status}: its figures are incomplete"))
        s = e.get("summary") or {}
        med, iqr = s.get("median_step_s"), s.get("iqr_step_s")
        steady = s.get("steady_steps", 0) or 0
        if s.get("unstable") and med and steady < MIN_SAMPLES:
            out.append(FairnessWarning("warning", "unstable",
                       f"{_label(n)}: only {steady} steady step(s), at least {MIN_SAMPLES} "
                       "are needed to trust a median; run more steps"))
        elif s.get("unstable") and med:
            # Information, not a warning: a wide spread of step times does not put a verdict
            # in doubt when the paired interval is tight (the speed-up's doubts say when).
            rel = (iqr or 0.0) / med
            out.append(FairnessWarning("note", "spread",
                       f"{_label(n)}: step times spread {rel:.0%} (IQR/median, over "
                       f"{s.get('steady_steps', 0)} steady steps; {UNSTABLE_IQR_RATIO:.0%} is "
                       "tight)"))
        elif s.get("unstable") and s.get("steady_steps", 0) and not med:
            out.append(FairnessWarning("warning", "unstable",
                       f"{_label(n)}: too few steady steps to trust"))
        n_out = s.get("outlier_steps")
        if n_out:
            out.append(FairnessWarning("note", "outliers",
                       f"{_label(n)}: {n_out} outlier step(s) marked (GC pauses, retracing); "
                       "kept in the statistics, the median is robust to them"))
    par = comparison.get("parity") or {}
    if _dropout_active(doc):
        out.append(FairnessWarning("note", "statistical_parity", STATISTICAL_NOTE))
    if par.get("within_tolerance") is False:
        out.append(FairnessWarning("warning", "parity",
                   "loss parity failed: the engines did not do the same work"))
    op = comparison.get("output_parity") or {}
    if op.get("within_tolerance") is False:
        out.append(FairnessWarning("warning", "output_parity",
                   "output parity failed: the models do not compute the same function"))
    sp = comparison.get("speedup") or {}
    doubts = sp.get("doubts")
    if isinstance(doubts, list):  # the verdict's own reasons (paired turns and after)
        for d in doubts:
            out.append(FairnessWarning("warning", "verdict", f"verdict in doubt: {d}"))
    elif sp and not sp.get("significant", True):  # documents from before paired turns
        lo, hi = sp.get("ci95", [None, None])
        out.append(FairnessWarning("note", "speedup",
                   f"the 95 % interval of the speed-up ({lo:.2f}-{hi:.2f}) includes 1: no "
                   "clear difference" if lo is not None else "no clear difference"))
    return out


def _gpu_warnings(settings: dict[str, Any], names: list[str],
                  cfg: dict[str, dict[str, Any]]) -> list[FairnessWarning]:
    """GPU facts that skew figures on one side, whatever the other side does."""
    out = []
    for n in names:
        c = cfg[n]
        if settings.get("device") == "cpu" and (c.get("visible_gpus") or 0) > 0:
            out.append(FairnessWarning("warning", "device",
                       f"{_label(n)} could see {c['visible_gpus']} GPU(s) in a CPU run (a "
                       "framework started earlier in this process keeps them): parts of it "
                       "may have run on a GPU"))
        if c.get("memory_growth") is False:
            out.append(FairnessWarning("note", "memory",
                       f"{_label(n)} reserves nearly all GPU memory at start "
                       "(TF_FORCE_GPU_ALLOW_GROWTH is not 'true'): its GPU memory in NVML is "
                       "that reservation, not what it uses"))
        if c.get("gpu_ordinal") is not None and c.get("gpu_index") is None:
            out.append(FairnessWarning("note", "device",
                       f"{_label(n)}: CUDA device {c['gpu_ordinal']} not mapped to an "
                       f"nvidia-smi index ({c.get('gpu_index_note') or '?'})"))
        if c.get("bf16_cpu") == "emulated":
            out.append(FairnessWarning("note", "precision",
                       f"{_label(n)}: this CPU has no bfloat16 instructions; oneDNN emulates "
                       "them on AVX-512 (bf16 can be slower than fp32 here)"))
        if c.get("lstm_kernel", "").startswith("generic"):
            out.append(FairnessWarning("note", "lstm_xla",
                       f"{_label(n)}: LSTM/GRU without cuDNN under XLA (XLA cannot compile "
                       "cuDNN's kernel, keras-team/keras#18456)"))
    return out


def _dropout_active(doc: dict[str, Any]) -> bool:
    """Whether the document's run trained with active dropout (its parity is statistical):
    the parity's method where the run has one, else its layers (a live document)."""
    method = ((doc.get("comparison") or {}).get("parity") or {}).get("method")
    if method is not None:
        return method == "statistical"
    if (doc.get("settings") or {}).get("task", "train") != "train":
        return False
    return _has_dropout((doc.get("scenario") or {}).get("layers"))


def _has_dropout(layers: Any) -> bool:
    """A dropout layer with rate > 0 among exported layer tables, inner ones included."""
    if not isinstance(layers, list):
        return False
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        rate = layer.get("rate")
        if layer.get("type") == DROPOUT and isinstance(rate, (int, float)) and rate > 0:
            return True
        if any(_has_dropout(v) for v in layer.values() if isinstance(v, list)):
            return True
    return False


def _pipeline_of(settings: dict[str, Any]) -> str:
    """The run's input pipeline (memory for runs saved before pipelines, or a damaged file)."""
    block = settings.get("input")
    pipeline = block.get("pipeline") if isinstance(block, dict) else None
    return pipeline if isinstance(pipeline, str) else "memory"


def _input_config(engine: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """An engine's input pipeline settings: in the export's `input` block, or (live) in the
    config its session reported."""
    block = engine.get("input") or config.get("input")
    found = block.get("config") if isinstance(block, dict) else None
    return found if isinstance(found, dict) else {}


def pipeline_text(c: dict[str, Any]) -> str:
    """One engine's input pipeline settings in words (workers, prefetch, AUTOTUNE, order)."""
    if not c:
        return "?"
    order = "deterministic order" if c.get("deterministic") else "order not fixed"
    if c.get("library") == "tf.data":
        calls = c.get("map_parallel_calls")
        mapping = {"sequential": "map sequential", "AUTOTUNE": "parallel map (AUTOTUNE)"}.get(
            calls, f"parallel map ({calls} calls)")
        return (f"tf.data: {mapping}, "
                f"prefetch {c.get('prefetch')}, default optimisations "
                f"{_onoff(c.get('default_optimizations'))}, autotune "
                f"{_onoff(c.get('autotune'))}, {order}")
    k = c.get("workers")
    workers = f"{k} worker process(es) (spawn)" if k else "no workers (in the training process)"
    return (f"DataLoader: {workers}, prefetch {c.get('prefetch')} batches, persistent "
            f"{_onoff(c.get('persistent_workers'))}, pin_memory {_onoff(c.get('pin_memory'))}, "
            f"no autotune, {order}")


def input_measure(pipeline: str, batch_size: Any) -> str:
    """The fairness measure of a run whose steps are fed by input pipelines."""
    text = (f"same samples, order and augmentation through each framework's own input "
            f"pipeline ({pipeline}), batches of {batch_size}: crop offsets and flips drawn "
            "once in numpy from the seed per (epoch, sample), applied with each framework's "
            "own ops (tested equal to 1e-6); the wait for a batch is part of the step time "
            "and reported apart (input wait share; input-bound above 10 %)")
    if pipeline == "naive":
        text += ("; naive: tf.data's default optimisations (map parallelisation, injected "
                 "prefetch) and autotuning switched off, map sequential, no prefetch; "
                 "DataLoader num_workers=0")
    else:
        text += ("; native: tf.data parallelises the map in threads of the training process "
                 "with AUTOTUNE, the DataLoader in worker processes: the loaders' CPU comes "
                 "out of the same cores as the model's")
    return text


def fairness_doc_of_state(state: RunState) -> dict[str, Any]:
    """A light results document of a live RunState (no step lists) for fairness_report()."""
    with state.lock:
        settings = state.settings
        engines = {}
        for n, es in state.engines.items():
            engines[n] = {"implementation": es.impl, "status": es.status,
                          "versions": es.report.versions, "config": es.report.config,
                          "summary": engine_summary(es, settings.batch_size)}
        # No comparison yet: parity and the speed-up's interval are end-of-run figures.
        return {"settings": settings.to_dict(), "scenario": state.scenario.to_dict(),
                "engines": engines, "comparison": {}}


def fairness_of_state(state: RunState) -> FairnessReport:
    """fairness_report() of a live run (cheap: no bootstrap, no step lists)."""
    return fairness_report(fairness_doc_of_state(state))
