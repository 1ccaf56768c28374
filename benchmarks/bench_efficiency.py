"""Per built-in scenario: achieved FLOP/s and share of the measured matmul peak, both engines,
eager and compiled, fp32 and bf16.

Usage: python benchmarks/bench_efficiency.py [--steps N] [--threads T] [--scenarios a,b]
       [--modes m,n] [--precisions p,q] [--peak-cache DIR] [--measure-peak]

Each cell is one comparison through the tool itself (child processes, alternate schedule), so
the figures are what the app and the export show: FLOPs per step from the scenario catalogue
(training = 3x forward) / the median steady step time, against each engine's own matmul peak,
measured in its process at the run's precision and thread count (cached per machine in the
peak folder; --measure-peak measures it again). Prints one table; nothing is asserted. Run it
on a quiet machine: the peak probe and the steps both need the cores to themselves.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_tables import print_table  # noqa: E402  (benchmarks/, the script's folder)

from engines import Comparison, build_results, settings_for  # noqa: E402
from engines.efficiency import flops_rate_text  # noqa: E402
from scenarios import load_builtins  # noqa: E402
from tui.paths import peak_cache_dir  # noqa: E402

ENGINES = {"pytorch": "pytorch", "tensorflow": "tensorflow"}
LABELS = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}


def cell(doc: dict, name: str) -> tuple[str, str, str, str]:
    """(median, achieved, peak, share) of one engine in a results document."""
    e = doc["engines"][name]
    eff = e.get("efficiency") or {}
    median = e["summary"]["median_step_s"]
    share = eff.get("share_of_peak")
    if e["status"] != "done":
        return (e["status"], "-", "-", (e.get("error") or "")[:60])
    return (f"{median * 1e3:.3f} ms" if median else "-",
            flops_rate_text(eff.get("achieved_flops")),
            flops_rate_text(eff.get("peak_flops")),
            f"{share:.1%}" if isinstance(share, float) else str(eff.get("peak_source")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--scenarios", default="mlp,cnn,lstm,regression")
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--peak-cache", default=str(peak_cache_dir()),
                   help="folder of the cached matmul peaks (default: the app's)")
    p.add_argument("--measure-peak", action="store_true",
                   help="measure the peaks again instead of using the cached ones")
    args = p.parse_args()
    wanted = args.scenarios.split(",")
    rows = [("scenario", "mode", "precision", "engine", "median step", "achieved",
             "measured peak", "share of peak", "parity (early)")]
    for s in (s for s in load_builtins() if s.name in wanted):
        for mode in args.modes.split(","):
            for precision in args.precisions.split(","):
                settings = settings_for(s, steps=args.steps, threads=args.threads, mode=mode,
                                        precision=precision, peak_cache=args.peak_cache,
                                        measure_peak=args.measure_peak)
                doc = build_results(Comparison(s, settings, ENGINES, telemetry=False).run())
                par = doc["comparison"]["parity"]
                early = par.get("early_max_rel_loss_diff")
                for name in ENGINES:
                    rows.append((s.name, mode, precision, LABELS[name], *cell(doc, name),
                                 f"{early:.1e}" if early is not None else "-"))
                    print("  done:", " | ".join(rows[-1]), flush=True)
    print()
    print_table(rows)
    print(f"\n{args.steps} steps per engine, {args.threads} thread(s) each, alternate schedule, "
          "CPU; achieved = catalogue FLOPs per step (multiply-add = 2, training = 3x forward) / "
          "median steady step; share of each engine's own measured matmul peak at the same "
          "precision and thread count.")


if __name__ == "__main__":
    main()
