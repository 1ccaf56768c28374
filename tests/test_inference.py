"""Task infer: latency percentiles at batch 1 and the scenario's batch, throughput, output
parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines import settings_for
from engines.results.inference import (
    inference_batch_sizes,
    inference_rows,
    inference_settings,
    latency_summary,
)
from scenarios import find, load_builtins
from tui.cli import main
from tui.reports import inference_table


def test_batch_sizes_and_settings():
    assert inference_batch_sizes(128) == [1, 128]
    assert inference_batch_sizes(1) == [1]
    st = settings_for(find("mlp", load_builtins()), task="train")
    plans = inference_settings(st)
    assert [(p.task, p.batch_size) for p in plans] == [("infer", 1), ("infer", 128)]


def test_latency_summary_known_values():
    t = np.arange(1, 101) * 1e-4  # 0.1 .. 10 ms
    s = latency_summary(t, 64)
    assert s["p50_s"] == pytest.approx(50.5e-4)
    assert s["p90_s"] == pytest.approx(90.1e-4)
    assert s["p99_s"] == pytest.approx(99.01e-4)
    assert s["samples_per_s"] == pytest.approx(64 / 50.5e-4)
    assert s["batches_per_s"] == pytest.approx(1 / 50.5e-4)
    assert latency_summary(np.array([]), 1)["p50_s"] is None


def test_cli_infer_with_fake_engines(tmp_path, capsys):
    out_json = tmp_path / "infer.json"
    code = main(["--no-tui", "--fake", "--scenario", "mlp", "--task", "infer", "--steps", "40",
                 "--in-process", "--no-telemetry", "--no-save", "--export", str(out_json)])
    assert code == 0
    out = capsys.readouterr().out
    assert "[infer, batch 1]" in out and "[infer, batch 128]" in out
    assert "p99" in out and "output parity, batch 128: OK" in out
    doc = json.loads(out_json.read_text())
    inf = doc["inference"]
    assert inf["batch_sizes"] == [1, 128]
    assert set(inf["latency"]) == {"1", "128"}
    for key in ("p50_s", "p90_s", "p99_s", "samples_per_s"):
        assert inf["latency"]["1"]["pytorch"][key] > 0
    assert inf["output_parity"]["128"]["within_tolerance"] is True
    assert doc["comparison"]["output_parity"]["max_abs_diff"] == 0.0
    assert doc["settings"]["batch_size"] == 128  # the main body is the scenario's batch size
    assert len(inference_rows(doc)) == 4
    assert "per batch" in inference_table(doc)


@pytest.mark.frameworks
def test_real_output_parity_mlp(tmp_path):
    out_json = tmp_path / "infer.json"
    code = main(["--no-tui", "--scenario", "mlp", "--task", "infer", "--steps", "20",
                 "--no-telemetry", "--no-save", "--export", str(out_json)])
    assert code == 0
    inf = json.loads(out_json.read_text())["inference"]
    for key in ("1", "128"):
        p = inf["output_parity"][key]
        assert p["within_tolerance"], p
        assert p["max_abs_diff"] < 1e-4
        assert p["shape"] == [int(key), 10]
        for engine in ("pytorch", "tensorflow"):
            lat = inf["latency"][key][engine]
            assert lat["p50_s"] <= lat["p90_s"] <= lat["p99_s"]
