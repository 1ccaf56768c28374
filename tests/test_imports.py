"""The layering rule: scenarios and engines load neither Textual nor a framework on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "torch", "tensorflow", "keras")


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_scenarios_imports_no_framework_and_no_textual():
    assert _loaded_after("import scenarios, scenarios.loader, scenarios.data") == []


def test_engines_import_no_framework_and_no_textual():
    stmt = ("import engines, engines.runner, engines.host, engines.results, engines.telemetry, "
            "engines.torch_engine, engines.tf_engine, engines.fake_engine")
    assert _loaded_after(stmt) == []


def test_cli_starts_without_frameworks():
    assert _loaded_after("import tui.cli") == []


@pytest.mark.frameworks
def test_a_real_run_does_not_load_a_framework_into_the_driving_process():
    # Anything an engine sends back (versions, config) must unpickle without its framework:
    # a torch.TorchVersion once imported torch into the UI process and caused 200 ms GC pauses.
    stmt = ("from engines import Comparison, settings_for, build_results\n"
            "from scenarios import load_builtins\n"
            "s = load_builtins()[-1]\n"
            "c = Comparison(s, settings_for(s, steps=8, threads=1), "
            "{'pytorch': 'pytorch', 'tensorflow': 'tensorflow'}, telemetry=False)\n"
            "st = c.run(); build_results(st)\n"
            "assert st.exit_code() == 0, [e.error for e in st.engines.values()]")
    assert _loaded_after(stmt) == []
