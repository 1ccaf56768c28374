"""GPU check of the input pipelines: cnn-augmented on --device cuda through each pipeline.

Usage: python benchmarks/gpu_input_check.py OUT_DIR [--device cpu]

Runs the built-in cnn-augmented (headless, no Textual) with --input memory, naive and native
(2 DataLoader workers, pin_memory on CUDA) on every installed engine, 60 steps each, and
prints per engine: status, error, median step, input wait share, first batch, the loader
alone, and the loss parity between engines where two ran. Exports each run to OUT_DIR.
Prints only; asserts nothing.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engines.results.document import build_results, write_json
    from engines.run.runner import Comparison
    from engines.settings import settings_for
    from scenarios import load_builtins

    out = Path(argv[0] if argv else "gpu-input-check")
    out.mkdir(parents=True, exist_ok=True)
    device = argv[argv.index("--device") + 1] if "--device" in argv else "cuda"
    engines = {n: n for n, mod in (("pytorch", "torch"), ("tensorflow", "tensorflow"))
               if importlib.util.find_spec(mod)}
    scenario = next(s for s in load_builtins() if s.name == "cnn-augmented")
    print(f"engines: {', '.join(engines)}; device {device}", flush=True)
    for pipeline in ("memory", "naive", "native"):
        settings = settings_for(scenario, steps=60, device=device, input_pipeline=pipeline,
                                loader_workers=2, threads=2)
        t0 = time.perf_counter()
        state = Comparison(scenario, settings, engines, telemetry=False).run()
        doc = build_results(state)
        write_json(doc, out / f"{pipeline}.json")
        print(f"== {pipeline} ({time.perf_counter() - t0:.0f} s)", flush=True)
        for name, e in doc["engines"].items():
            inp = e.get("input") or {}
            print(f"  {name}: {e['status']} {e['error'] or ''} median "
                  f"{(e['summary'].get('median_step_s') or 0) * 1e3:.3g} ms, device "
                  f"{e['config'].get('device')}, wait {inp.get('wait_share')}, input-bound "
                  f"{inp.get('input_bound')}, first batch {inp.get('first_batch_s')}, loader "
                  f"{inp.get('loader_samples_per_s')} samples/s, config "
                  f"{json.dumps(inp.get('config'))}", flush=True)
            losses = [s["loss"] for s in e["steps"][:3]]
            print(f"    first losses {losses}", flush=True)
        parity = (doc.get("comparison") or {}).get("parity")
        if parity:
            print(f"  parity: max rel {parity.get('max_rel_loss_diff')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
