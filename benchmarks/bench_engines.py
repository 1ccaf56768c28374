"""Per built-in scenario: median step time of each engine, eager and compiled, and first-step cost.

Usage: python benchmarks/bench_engines.py [--steps N] [--threads T] [--scenarios a,b] [--modes m,n]

Runs each comparison through the tool itself (child processes, alternate schedule), so the
figures are what the app shows. Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_tables import print_table  # noqa: E402  (benchmarks/, the script's folder)

from engines import Comparison, build_results, settings_for  # noqa: E402
from scenarios import load_builtins  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--scenarios", default="mlp,cnn,lstm,regression")
    p.add_argument("--modes", default="eager,compiled")
    args = p.parse_args()
    wanted = args.scenarios.split(",")
    rows = [("scenario", "mode", "PyTorch median", "TF median", "faster (95% CI)",
             "PyTorch 1st step", "TF 1st step", "parity (max rel)")]
    for s in (s for s in load_builtins() if s.name in wanted):
        for mode in args.modes.split(","):
            settings = settings_for(s, steps=args.steps, threads=args.threads, mode=mode)
            comp = Comparison(s, settings, {"pytorch": "pytorch", "tensorflow": "tensorflow"},
                              telemetry=False)
            doc = build_results(comp.run())
            e = doc["engines"]
            pt, tf = e["pytorch"], e["tensorflow"]

            def ms(x):
                return f"{x * 1e3:.3f} ms" if x else "-"

            sp = doc["comparison"].get("speedup")
            faster = (f"{sp['faster']} {sp['ratio']:.2f}x ({sp['ci95'][0]:.2f}-{sp['ci95'][1]:.2f})"
                      if sp else "-")
            par = doc["comparison"]["parity"]
            rows.append((s.name, mode, ms(pt["summary"]["median_step_s"]),
                         ms(tf["summary"]["median_step_s"]), faster,
                         ms(pt["phases_s"].get("first_step")), ms(tf["phases_s"].get("first_step")),
                         f"{par['max_rel_loss_diff']:.1e}" if par["max_rel_loss_diff"] is not None
                         else "-"))
            for name, eng in e.items():
                if eng["status"] != "done":
                    print(f"  {s.name}/{mode}/{name}: {eng['status']}: {eng['error']}", flush=True)
            print("  done:", " | ".join(rows[-1]), flush=True)
    print()
    print_table(rows)
    print(f"\n{args.steps} steps per engine, {args.threads} thread(s) each, alternate schedule, "
          f"CPU, float32; median of steady-state steps.")


if __name__ == "__main__":
    main()
