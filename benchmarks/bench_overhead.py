#!/usr/bin/env python
"""How much does fwcompare itself cost? Two ratios per engine and scenario:

* measurement overhead = median step time as the tool measures it (Comparison, child process,
  EngineSession timing, records over a pipe, telemetry off) / median step time of a bare loop
  (same model, weights, batches and framework, in its own child process, hand-written training
  loop timed with perf_counter and nothing else). Target <= 1.03.
* telemetry overhead = the tool's median with the hardware sampler on / with it off.
  Target <= 1.01.

Estimator: each turn's median step time divided by the mean of its neighbouring turns' medians
of the other condition, then the median of those per-turn ratios, with a bootstrap 95 %
interval over turns. A burst of outside load on a shared machine spoils a turn or two, not the
median; slow drift cancels inside each neighbourhood. The pooled ratio of medians (all steady
steps of one condition against all of the other) is in the JSON too.

Everything runs side by side in one run and is interleaved so drift cancels: the bare loop is
a second participant in the tool's own turnstile, so turns go tool(telemetry on), bare,
tool(telemetry off), bare, tool(on), ... each about --slice seconds. The first step of every
turn is left out on both sides (the tool's rule: phase 'resume'), and so is the first turn of
each (start-up, compile).

Usage:
    .venv/bin/python benchmarks/bench_overhead.py [--scenarios mlp,regression]
        [--engines pytorch,tensorflow] [--rounds 8] [--slice 1.0] [--mode eager]
        [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engines.run.runner as runner_mod  # noqa: E402
from engines import Comparison, settings_for  # noqa: E402
from engines.registry import create_engine
from engines.run.state import PHASE_CODE  # noqa: E402

# (hierarchical_bootstrap_ratio_ci is used by the A/A control)
from engines.run.telemetry import TelemetrySampler  # noqa: E402
from engines.settings import RunSettings  # noqa: E402
from engines.stats import (  # noqa: E402
    bootstrap_ratio_ci,
    hierarchical_bootstrap_ratio_ci,
    summarize,
)
from scenarios import Scenario, find, load_builtins  # noqa: E402

# -- the bare loop, in its own child process -------------------------------------------------


def _bare_loop(engine: Any, scenario: Scenario, settings: RunSettings):
    """A hand-written training loop over the engine's model, optimiser and batches."""
    perf = time.perf_counter
    if engine.name == "pytorch":
        model, opt, loss_fn = engine.forward, engine.opt, engine.loss_fn
        xs, ys = engine.xs, engine.ys

        def step(x: Any, y: Any) -> None:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()
    else:
        tf = engine.tf
        model, opt = engine.model, engine.opt
        variables = model.trainable_variables
        xs, ys = engine.xs, engine.ys
        if scenario.train.loss == "cross_entropy":
            def loss_of(y: Any, out: Any) -> Any:
                return tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
        else:
            def loss_of(y: Any, out: Any) -> Any:
                return tf.reduce_mean(tf.square(out - y))

        def train_step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_of(y, model(x, training=True))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables))
            return loss

        fn = train_step
        if settings.mode == "compiled":
            fn = tf.function(train_step)
        elif settings.mode == "xla":
            fn = tf.function(train_step, jit_compile=True)

        def step(x: Any, y: Any) -> None:
            float(fn(x, y).numpy())

    n = len(xs)
    index = [0]

    def run(slice_s: float) -> list[float]:
        times = []
        start = perf()
        i = index[0]
        while True:
            x, y = xs[i % n], ys[i % n]
            t0 = perf()
            step(x, y)
            t1 = perf()
            times.append(t1 - t0)
            i += 1
            if t1 - start >= slice_s:
                break
        index[0] = i
        return times

    return run


def _bare_child(conn: Any, impl: str, scenario: Scenario, settings: RunSettings) -> None:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 2)  # framework chatter
    engine = create_engine(impl)
    engine.load(settings)
    engine.build(scenario, settings)
    run = _bare_loop(engine, scenario, settings)
    conn.send(("ready", os.getpid()))
    while True:
        req = conn.recv()
        if req[0] == "stop":
            return
        conn.send(("times", run(req[1])))


class BareHost:
    def __init__(self, impl: str, scenario: Scenario, settings: RunSettings):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_bare_child, args=(child, impl, scenario, settings),
                                daemon=True)
        self.proc.start()
        child.close()
        self.pid = self.proc.pid

    def wait_ready(self) -> None:
        kind, _ = self.conn.recv()
        assert kind == "ready"

    def run(self, slice_s: float) -> list[float]:
        self.conn.send(("run", slice_s))
        kind, times = self.conn.recv()
        return times

    def close(self) -> None:
        try:
            self.conn.send(("stop",))
        except OSError:
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


# -- the tool's telemetry sampler, switchable between turns ------------------------------------

GATE = threading.Event()  # set: the sampler samples; clear: it is off
EXTRA_PIDS: dict[str, int] = {}


class GatedSampler(TelemetrySampler):
    """The tool's sampler, sampling only while GATE is set (else blocked, costing nothing).

    It also samples the bare loop's process, so each sample costs what it costs with two
    engines."""

    def __init__(self, pids, sink, hz=2.0, nvml=None):
        super().__init__(lambda: {**pids(), **EXTRA_PIDS}, sink, hz=hz, nvml=nvml)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not GATE.is_set():
                GATE.wait(0.2)
                continue
            if self._stop.wait(self.interval):
                return
            if GATE.is_set():
                try:
                    self.sink(self.sample())
                except Exception:  # noqa: BLE001
                    continue


runner_mod.TelemetrySampler = GatedSampler


# -- one measurement --------------------------------------------------------------------------


def _turns(codes: np.ndarray) -> np.ndarray:
    """Turn index of each step: a new turn starts at every 'resume' step."""
    return np.cumsum(codes == PHASE_CODE["resume"])


def _median_ci(ratios: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    """Percentile-bootstrap 95 % interval of the median of per-turn ratios."""
    rng = np.random.default_rng(seed)
    meds = np.median(ratios[rng.integers(0, ratios.size, size=(n_boot, ratios.size))], axis=1)
    return [float(x) for x in np.quantile(meds, [0.025, 0.975])]


def measure(scenario: Scenario, engine: str, rounds: int, slice_s: float,
            mode: str) -> dict[str, Any]:
    settings = settings_for(scenario, steps=10**8, threads=1, slice_s=slice_s, mode=mode,
                            warmup_steps=5)
    comp = Comparison(scenario, settings, {engine: engine}, telemetry=True, telemetry_hz=2.0)
    comp.turnstile.order.append("bare")
    bare = BareHost(engine, scenario, settings)
    EXTRA_PIDS.clear()
    EXTRA_PIDS["bare"] = bare.pid
    bare_turns: list[list[float]] = []
    samples_on = [0]
    errors: list[str] = []

    def drive_bare() -> None:
        try:
            bare.wait_ready()
            comp.turnstile.mark_ready("bare")
            # Tool turn k (k >= 1) has telemetry on when k is even; the bare loop never does.
            for r in range(2 * rounds + 1):
                if not comp.turnstile.wait_turn("bare", comp.cancel_event):
                    return
                comp.turnstile.took_turn("bare")  # so the tool's next step is a 'resume'
                GATE.clear()
                bare_turns.append(bare.run(slice_s))
                if r == 2 * rounds:
                    comp.cancel()
                elif (r + 1) % 2 == 0:
                    GATE.set()
                comp.turnstile.end_turn("bare")
        except Exception as err:  # noqa: BLE001
            errors.append(f"{type(err).__name__}: {err}")
            comp.cancel()
        finally:
            comp.turnstile.mark_ended("bare")

    GATE.set()  # tool turn 0
    t = threading.Thread(target=drive_bare, daemon=True)
    comp.start()
    t.start()
    comp.wait()
    t.join()
    bare.close()
    GATE.clear()
    es = comp.state.engines[engine]
    if errors or es.status == "failed":
        raise RuntimeError(errors[0] if errors else es.error)
    with comp.state.lock:
        codes = np.frombuffer(es.phase_codes, dtype=np.int8).copy()
        times = np.frombuffer(es.times, dtype=np.float64).copy()
        samples_on[0] = len(comp.state.telemetry)
    turn = _turns(codes)
    steady = codes == PHASE_CODE["steady"]
    n_turns = int(turn.max()) + 1
    # Turns in order: T0 B0 T1 B1 T2 B2 ... (T = tool, B = bare). T0 and B0 are start-up.
    tool_turns = [times[steady & (turn == k)] for k in range(n_turns)]
    bare_by_turn = [np.asarray(b[1:]) for b in bare_turns]
    tmed = [float(np.median(t)) if t.size else np.nan for t in tool_turns]
    bmed = [float(np.median(b)) if b.size else np.nan for b in bare_by_turn]
    # Primary figures: each turn against its neighbours, then the median over turns. A burst of
    # outside load (seconds long, common on a shared machine) spoils one or two turn ratios but
    # not their median; slow drift cancels within each neighbourhood.
    meas_ratios, tele_ratios = [], []
    for k in range(1, n_turns):
        if k % 2 == 1:  # telemetry off: against the bare turns just before and after
            nb = [bmed[i] for i in (k - 1, k) if i < len(bmed)]
            meas_ratios.append(tmed[k] / np.mean(nb))
        else:  # telemetry on: against the tool's off turns just before and after
            nb = [tmed[i] for i in (k - 1, k + 1) if i < n_turns]
            tele_ratios.append(tmed[k] / np.mean(nb))
    meas_ratios = np.array([x for x in meas_ratios if np.isfinite(x)])
    tele_ratios = np.array([x for x in tele_ratios if np.isfinite(x)])
    on_turns = [tool_turns[k] for k in range(2, n_turns, 2)]
    off_turns = [tool_turns[k] for k in range(1, n_turns, 2)]
    on, off = np.concatenate(on_turns), np.concatenate(off_turns)
    bare_t = np.concatenate(bare_by_turn[1:])
    s_on, s_off, s_bare = summarize(on), summarize(off), summarize(bare_t)
    meas = float(np.median(meas_ratios))
    tele = float(np.median(tele_ratios))
    return {
        "scenario": scenario.name, "engine": engine, "mode": mode,
        "tool_on_median_s": s_on.median, "tool_off_median_s": s_off.median,
        "bare_median_s": s_bare.median,
        "tool_on_steps": s_on.n, "tool_off_steps": s_off.n, "bare_steps": s_bare.n,
        "tool_off_iqr_over_median": s_off.rel_iqr, "bare_iqr_over_median": s_bare.rel_iqr,
        "measurement_ratio": meas,
        "measurement_ci95": _median_ci(meas_ratios),
        "measurement_turn_ratios": meas_ratios.tolist(),
        "measurement_pooled_ratio": s_off.median / s_bare.median,
        "measurement_pooled_ci95_steps": list(bootstrap_ratio_ci(off, bare_t)),
        "telemetry_ratio": tele,
        "telemetry_ci95": _median_ci(tele_ratios),
        "telemetry_turn_ratios": tele_ratios.tolist(),
        "telemetry_pooled_ratio": s_on.median / s_off.median,
        "telemetry_pooled_ci95_steps": list(bootstrap_ratio_ci(on, off)),
        "turn_medians_s": {"tool": tmed, "bare": bmed},
        "telemetry_samples": samples_on[0],
        "turns": int(turn.max()) + 1,
    }


def measure_aa(scenario: Scenario, engine: str, rounds: int, slice_s: float,
               mode: str) -> dict[str, Any]:
    """Control: two identical bare loops in two processes, alternating the same way. Their
    ratio shows how far two processes running the very same code differ here."""
    settings = settings_for(scenario, steps=10**8, threads=1, slice_s=slice_s, mode=mode,
                            warmup_steps=5)
    a, b = BareHost(engine, scenario, settings), BareHost(engine, scenario, settings)
    a.wait_ready()
    b.wait_ready()
    ta, tb = [], []
    for _ in range(2 * rounds + 1):
        ta.append(np.asarray(a.run(slice_s)[1:]))
        tb.append(np.asarray(b.run(slice_s)[1:]))
    a.close()
    b.close()
    ta, tb = ta[1:], tb[1:]
    ca, cb = np.concatenate(ta), np.concatenate(tb)
    # Same estimator as the tool figures: B's turn against A's turns just before and after.
    ma, mb = [float(np.median(t)) for t in ta], [float(np.median(t)) for t in tb]
    ratios = np.array([mb[k] / np.mean([ma[i] for i in (k, k + 1) if i < len(ma)])
                       for k in range(len(mb))])
    return {"scenario": scenario.name, "engine": engine, "mode": mode,
            "a_median_s": float(np.median(ca)), "b_median_s": float(np.median(cb)),
            "ratio": float(np.median(ratios)), "ci95": _median_ci(ratios),
            "turn_ratios": ratios.tolist(),
            "pooled_ratio": float(np.median(cb) / np.median(ca)),
            "pooled_ci95_turns": list(hierarchical_bootstrap_ratio_ci(tb, ta))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="mlp,regression")
    p.add_argument("--engines", default="pytorch,tensorflow")
    p.add_argument("--rounds", type=int, default=8,
                   help="turns per condition (tool on, tool off, bare x2) after the first")
    p.add_argument("--slice", type=float, default=1.0, help="seconds per turn")
    p.add_argument("--mode", default="eager", choices=("eager", "compiled", "xla"))
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--aa", action="store_true",
                   help="also run the control: bare loop against an identical bare loop in "
                        "another process (how much two processes differ by themselves)")
    args = p.parse_args(argv)
    scenarios = load_builtins()
    results = []
    print(f"fwcompare overhead benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, mode {args.mode}, {args.rounds} rounds of "
          f"{args.slice:g} s turns", flush=True)
    for sname in args.scenarios.split(","):
        scenario = find(sname, scenarios)
        for engine in args.engines.split(","):
            t0 = time.monotonic()
            r = measure(scenario, engine, args.rounds, args.slice, args.mode)
            results.append(r)
            print(f"  {sname:<10} {engine:<10} tool {r['tool_off_median_s'] * 1e3:.4g} ms, "
                  f"bare {r['bare_median_s'] * 1e3:.4g} ms, tool+telemetry "
                  f"{r['tool_on_median_s'] * 1e3:.4g} ms ({time.monotonic() - t0:.0f} s)",
                  flush=True)
    print()
    head = ("scenario", "engine", "bare", "tool", "tool/bare (95% CI)", "telemetry on/off (95% CI)",
            "steps tool/bare")
    rows = [head]
    for r in results:
        m_lo, m_hi = r["measurement_ci95"]
        t_lo, t_hi = r["telemetry_ci95"]
        rows.append((r["scenario"], r["engine"], f"{r['bare_median_s'] * 1e3:.4g} ms",
                     f"{r['tool_off_median_s'] * 1e3:.4g} ms",
                     f"{r['measurement_ratio']:.3f} ({m_lo:.3f}-{m_hi:.3f})",
                     f"{r['telemetry_ratio']:.3f} ({t_lo:.3f}-{t_hi:.3f})",
                     f"{r['tool_off_steps']}/{r['bare_steps']}"))
    widths = [max(len(x[i]) for x in rows) for i in range(len(head))]
    for i, x in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    controls = []
    if args.aa:
        print("\ncontrol (A/A): the same bare loop in two processes, alternating")
        for sname in args.scenarios.split(","):
            for engine in args.engines.split(","):
                c = measure_aa(find(sname, scenarios), engine, args.rounds, args.slice,
                               args.mode)
                controls.append(c)
                print(f"  {sname:<10} {engine:<10} B/A {c['ratio']:.3f} "
                      f"({c['ci95'][0]:.3f}-{c['ci95'][1]:.3f})", flush=True)
    worst_m = max(r["measurement_ratio"] for r in results)
    worst_t = max(r["telemetry_ratio"] for r in results)
    print(f"\nworst measurement overhead {worst_m:.3f} (target <= 1.03): "
          f"{'OK' if worst_m <= 1.03 else 'MISSED'}")
    print(f"worst telemetry overhead  {worst_t:.3f} (target <= 1.01): "
          f"{'OK' if worst_t <= 1.01 else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv, "results": results,
                                                "controls": controls}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
