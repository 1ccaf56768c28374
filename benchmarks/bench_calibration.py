"""Is the speed-up's 95 % interval calibrated on this machine? And how long to a verdict?

Usage:
  python benchmarks/bench_calibration.py [--runs N] [--scenario mlp] [--aa-steps S]
         [--ab-steps S] [--threads T] [--verdict-scenarios a,b] [--skip aa,ab,verdict]
         [--no-write]

Each run is long enough for about six turn pairs (a run with fewer than three pairs falls back
to the unpaired interval, which is not what is being calibrated): the defaults suit mlp on a
2-core machine (PyTorch ~1 ms a step, TensorFlow ~3 ms).

Three measurements, each through the tool itself (child processes, paired turns):

* A/A: N runs of one engine against itself (--aa). Both sides do the same work, so the true
  ratio is 1: a calibrated 95 % interval contains 1 in about 95 % of the runs. The same runs'
  step-level bootstrap interval (what the tool reported before paired turns) is shown beside
  it for contrast.
* A/B: N runs of PyTorch against TensorFlow. For each run, does its interval contain the pooled
  ratio of the other runs (geometric mean)? Calibrated: about 95 %.
* Time to a verdict: per built-in, an --until-confident 5 run; the seconds of measuring until
  the interval was within +-5 %, the pairs it took, and the wall time of the whole run.

Writes the coverage figures to this machine's calibration file (tui.paths.calibration_file),
which results documents then quote. Prints one report; nothing is asserted. Run it on a quiet
machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

from engines import Comparison, build_results, settings_for  # noqa: E402
from engines.pairing import PROCESS_SD  # noqa: E402
from engines.registry import TWIN_SUFFIX  # noqa: E402
from engines.results.summary import doc_steady_times  # noqa: E402
from engines.run.environment import environment  # noqa: E402
from engines.stats import bootstrap_ratio_ci  # noqa: E402
from scenarios import find, load_builtins  # noqa: E402
from tui.paths import calibration_file  # noqa: E402


def run_once(scenario, engines: dict[str, str], steps: int, threads: int, first: str | None,
             until_confident: float | None = None) -> tuple[dict, float]:
    settings = settings_for(scenario, steps=steps, threads=threads)
    t0 = time.perf_counter()
    comp = Comparison(scenario, settings, engines, telemetry=False, first=first,
                      until_confident=until_confident)
    doc = build_results(comp.run())
    return doc, time.perf_counter() - t0


def covers(ci: list[float] | None, value: float) -> bool:
    return ci is not None and ci[0] <= value <= ci[1]


def oriented(sp: dict, first: str) -> tuple[float, list[float]]:
    """The run's ratio and interval as (other / first), whichever engine was faster."""
    if sp["slower"] == first:
        return 1 / sp["ratio"], [1 / sp["ci95"][1], 1 / sp["ci95"][0]]
    return sp["ratio"], list(sp["ci95"])


def aa(scenario, runs: int, steps: int, threads: int, engine: str) -> dict:
    twin = engine + TWIN_SUFFIX
    engines = {engine: engine, twin: engine}
    paired_hits = step_hits = done = pairs = 0
    widths, signed = [], []
    for i in range(runs):
        first = engine if i % 2 == 0 else twin
        doc, wall = run_once(scenario, engines, steps, threads, first)
        sp = (doc.get("comparison") or {}).get("speedup")
        if not sp or not all(e["status"] == "done" for e in doc["engines"].values()):
            print(f"  A/A run {i + 1}: no verdict ({[e['error'] for e in doc['engines'].values()]})")
            continue
        done += 1
        pairs += sp.get("pairs") or 0
        signed.append(math.log(oriented(sp, engine)[0]))  # twin / original
        hit = covers(sp["ci95"], 1.0)
        paired_hits += hit
        times = {n: doc_steady_times(e) for n, e in doc["engines"].items()}
        lo, hi = bootstrap_ratio_ci(times[twin], times[engine], n_boot=1000)
        step_hits += lo <= 1.0 <= hi
        if sp.get("half_width") is not None:
            widths.append(sp["half_width"])
        print(f"  A/A run {i + 1}/{runs}: ratio {sp['ratio']:.3f} CI {sp['ci95'][0]:.3f}-"
              f"{sp['ci95'][1]:.3f} ({sp.get('pairs')} pairs{'' if sp.get('paired') else ', unpaired'})"
              f" {'covers 1' if hit else 'MISSES 1'}; step bootstrap {lo:.3f}-{hi:.3f}"
              f" {'covers' if lo <= 1.0 <= hi else 'misses'}  [{wall:.1f} s]", flush=True)
    return {"runs": done, "coverage": paired_hits / done if done else None,
            "between_run_sd": float(np.std(signed, ddof=1)) if len(signed) > 1 else None,
            "step_bootstrap_coverage": step_hits / done if done else None,
            "mean_pairs": pairs / done if done else None,
            "median_half_width": float(np.median(widths)) if widths else None}


def ab(scenario, runs: int, steps: int, threads: int) -> dict:
    engines = {"pytorch": "pytorch", "tensorflow": "tensorflow"}
    results = []
    for i in range(runs):
        first = "pytorch" if i % 2 == 0 else "tensorflow"
        doc, wall = run_once(scenario, engines, steps, threads, first)
        sp = (doc.get("comparison") or {}).get("speedup")
        if not sp or not all(e["status"] == "done" for e in doc["engines"].values()):
            print(f"  A/B run {i + 1}: no verdict")
            continue
        ratio, ci = oriented(sp, "pytorch")  # TensorFlow time / PyTorch time
        results.append((ratio, ci))
        print(f"  A/B run {i + 1}/{runs}: TF/PyTorch {ratio:.3f} CI {ci[0]:.3f}-{ci[1]:.3f} "
              f"({sp.get('pairs')} pairs)  [{wall:.1f} s]", flush=True)
    hits = 0
    logs = [math.log(r) for r, _ in results]
    for i, (_, ci) in enumerate(results):
        others = [r for j, (r, _) in enumerate(results) if j != i]
        if others:
            hits += covers(ci, math.exp(np.mean(np.log(others))))
    n = len(results)
    return {"runs": n, "coverage": hits / n if n > 1 else None,
            "between_run_sd": float(np.std(logs, ddof=1)) if n > 1 else None,
            "pooled_ratio": math.exp(np.mean(np.log([r for r, _ in results]))) if n else None}


def verdicts(names: list[str], threads: int) -> list[dict]:
    out = []
    engines = {"pytorch": "pytorch", "tensorflow": "tensorflow"}
    for s in load_builtins():
        if s.name not in names:
            continue
        doc, wall = run_once(s, engines, s.train.steps * 10, threads, None, until_confident=5.0)
        sp = (doc.get("comparison") or {}).get("speedup") or {}
        until = sp.get("until_confident") or {}
        row = {"scenario": s.name, "confident_after_s": until.get("confident_after_s"),
               "pairs": until.get("pairs"), "wall_s": wall, "ratio": sp.get("ratio"),
               "faster": sp.get("faster"), "ci95": sp.get("ci95")}
        out.append(row)
        after = row["confident_after_s"]
        print(f"  {s.name}: {'confident after %.1f s of measuring, %s pairs' % (after, row['pairs']) if after is not None else 'NOT confident within its steps'}; "
              f"{row['faster']} {row['ratio']:.2f}x; whole run {wall:.1f} s", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--scenario", default="mlp")
    p.add_argument("--aa-steps", type=int, default=2000)
    p.add_argument("--ab-steps", type=int, default=600)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--aa-engine", default="pytorch")
    p.add_argument("--verdict-scenarios", default="mlp,cnn,lstm,regression")
    p.add_argument("--skip", default="", help="comma-separated: aa, ab, verdict")
    p.add_argument("--no-write", action="store_true", help="do not write the calibration file")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    scenario = find(args.scenario, load_builtins())
    command = "python benchmarks/bench_calibration.py " + " ".join(sys.argv[1:])
    print(f"# {command}\n# scenario {scenario.name}, A/A {args.aa_steps} steps, A/B "
          f"{args.ab_steps} steps, {args.threads} thread(s) per engine, {args.runs} runs each")
    report: dict = {"command": command, "measured": time.time(),
                    "cpu": environment().get("cpu", "?"), "scenario": scenario.name}
    if "aa" not in skip:
        print(f"A/A ({args.aa_engine} against itself):")
        a = aa(scenario, args.runs, args.aa_steps, args.threads, args.aa_engine)
        report.update(aa_coverage=a["coverage"], aa_runs=a["runs"],
                      aa_step_bootstrap_coverage=a["step_bootstrap_coverage"])
        print(f"A/A: paired interval contains 1 in {a['coverage']:.0%} of {a['runs']} runs "
              f"(step bootstrap: {a['step_bootstrap_coverage']:.0%}); mean {a['mean_pairs']:.1f}"
              f" pairs, median half-width +-{(a['median_half_width'] or 0):.1%}; log ratio SD "
              f"between runs {a['between_run_sd']:.4f}")
    if "ab" not in skip:
        print("A/B (PyTorch against TensorFlow):")
        b = ab(scenario, args.runs, args.ab_steps, args.threads)
        report.update(ab_coverage=b["coverage"], ab_runs=b["runs"])
        if b["coverage"] is not None:
            print(f"A/B: a run's interval contains the others' pooled ratio "
                  f"({b['pooled_ratio']:.3f}) in {b['coverage']:.0%} of {b['runs']} runs; log "
                  f"ratio SD between runs {b['between_run_sd']:.4f} (PROCESS_SD in use: "
                  f"{PROCESS_SD})")
    if "verdict" not in skip:
        print("Time to a +-5 % verdict (--until-confident 5):")
        report["verdicts"] = verdicts(args.verdict_scenarios.split(","), args.threads)
    if not args.no_write and ("aa_coverage" in report or "ab_coverage" in report):
        path = calibration_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"calibration written to {path}")


if __name__ == "__main__":
    main()
