"""--matrix: cells, rows with break-even steps, the CLI table (fake engines; one tiny real run
of TensorFlow eager vs tf.function)."""

from __future__ import annotations

import json

import pytest

from engines.results.diff import compare_runs
from engines.results.matrix import matrix_cells, matrix_rows
from engines.results.store import list_runs
from tui.cli import main
from tui.reports import matrix_table

ENGINES = {"pytorch": "pytorch", "tensorflow": "tensorflow"}


def test_cells_skip_pytorch_xla():
    cells = matrix_cells(ENGINES)
    assert [c.label for c in cells] == ["train/eager", "train/compiled", "train/xla",
                                        "infer/eager", "infer/compiled", "infer/xla"]
    assert list(cells[2].engines) == ["tensorflow"]
    assert list(cells[1].engines) == ["pytorch", "tensorflow"]
    assert matrix_cells({"pytorch": "pytorch"}, modes=("xla",)) == []


def _cell(task, mode, figures):
    """A minimal cell document: figures = {engine: (first_step, median)}."""
    return {"settings": {"task": task, "mode": mode},
            "comparison": {"parity": {"within_tolerance": True}} if len(figures) == 2 else {},
            "engines": {n: {"status": "done", "config": {"mode": f"{n}-{mode}"},
                            "phases_s": {"first_step": f},
                            "summary": {"median_step_s": m, "iqr_step_s": m / 50,
                                        "unstable": False, "steps_done": 100}}
                        for n, (f, m) in figures.items()}}


def test_rows_and_breakeven():
    docs = [
        _cell("train", "eager", {"pytorch": (0.008, 0.002), "tensorflow": (0.09, 0.018)}),
        _cell("train", "compiled", {"pytorch": (26.0, 0.0021), "tensorflow": (0.23, 0.004)}),
        _cell("train", "xla", {"tensorflow": (1.5, 0.003)}),
        _cell("infer", "eager", {"pytorch": (0.005, 0.001), "tensorflow": (0.05, 0.006)}),
        _cell("infer", "compiled", {"pytorch": (10.0, 0.0005), "tensorflow": (0.1, 0.001)}),
    ]
    rows = matrix_rows(docs)
    by = {(r["task"], r["engine"], r["mode"]): r for r in rows}
    assert len(rows) == 9
    assert [(r["task"], r["engine"], r["mode"]) for r in rows][:5] == [
        ("train", "pytorch", "eager"), ("train", "pytorch", "compiled"),
        ("train", "tensorflow", "eager"), ("train", "tensorflow", "compiled"),
        ("train", "tensorflow", "xla")]
    assert by[("train", "pytorch", "compiled")]["breakeven_steps"] is None  # slower per step
    # tf.function: (0.23 - 0.09) / (0.018 - 0.004) = 10 -> pays off after 11 steps
    assert by[("train", "tensorflow", "compiled")]["breakeven_steps"] == 11
    assert by[("train", "tensorflow", "compiled")]["speedup_vs_eager"] == pytest.approx(4.5)
    # XLA: (1.5 - 0.09) / 0.015 = 94 -> 95
    assert by[("train", "tensorflow", "xla")]["breakeven_steps"] == 95
    # torch.compile for inference: (10 - 0.005) / 0.0005 = 19990 -> 19991
    assert by[("infer", "pytorch", "compiled")]["breakeven_steps"] == 19991
    assert by[("train", "pytorch", "eager")]["breakeven_steps"] is None
    assert by[("train", "tensorflow", "xla")]["parity_ok"] is None
    table = matrix_table(rows)
    assert "never" in table and "11 steps" in table and "(baseline)" in table
    assert "4.50x" in table


def test_statistical_parity_is_shown_as_a_band_in_the_table_and_the_diff():
    # Dropout: the verdict is a band on moving medians, never "ok"/"MISMATCH" of a match.
    doc = _cell("train", "eager", {"pytorch": (0.01, 0.002), "tensorflow": (0.09, 0.018)})
    doc["comparison"]["parity"] = {"within_tolerance": False, "method": "statistical",
                                   "steps_compared": 200, "max_rel_loss_diff": 0.31}
    exact = _cell("train", "compiled", {"pytorch": (1.0, 0.002), "tensorflow": (0.2, 0.004)})
    rows = matrix_rows([doc, exact])
    assert {r["parity_method"] for r in rows if r["mode"] == "eager"} == {"statistical"}
    assert {r["parity_method"] for r in rows if r["mode"] == "compiled"} == {"exact"}
    table = matrix_table(rows)
    assert "OUT OF BAND" in table and "MISMATCH" not in table and "statistical" in table
    other = json.loads(json.dumps(doc))
    other["comparison"]["parity"]["within_tolerance"] = True
    text = "\n".join(f"{r.label}: {r.a} | {r.b}" for r in compare_runs(doc, other).rows)
    assert "OUT OF BAND, statistical (3.1e-01 of the first loss)" in text
    assert "IN BAND, statistical" in text


def test_cli_matrix_with_fake_engines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path / "runs"))
    out_json = tmp_path / "m.json"
    code = main(["--fake", "--matrix", "--scenario", "regression", "--steps", "20",
                 "--in-process", "--no-telemetry", "--export", str(out_json)])
    assert code == 0
    out = capsys.readouterr().out
    assert "[matrix 6/6: infer/xla on TensorFlow]" in out
    assert "pays off after" in out and "(baseline)" in out
    doc = json.loads(out_json.read_text())
    assert doc["kind"] == "matrix" and len(doc["matrix"]["cells"]) == 6
    assert len(doc["matrix"]["rows"]) == 10
    assert doc["matrix"]["skipped"] == ["pytorch/xla"]
    listing = list_runs(tmp_path / "runs")
    assert listing.warnings == [] and listing.runs[0].kind == "matrix"
    cmp = compare_runs(doc, doc)
    assert cmp.rows and not any(r.differs for r in cmp.rows if r.section != "machine")


def test_matrix_modes_validation(capsys):
    assert main(["--fake", "--matrix", "--scenario", "mlp", "--matrix-modes", "fast"]) == 2
    assert "--matrix-modes" in capsys.readouterr().err
    assert main(["--fake", "--matrix", "--scenario", "mlp", "--repeat", "2"]) == 2


@pytest.mark.frameworks
def test_real_tensorflow_eager_vs_tf_function(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path / "runs"))
    out_json = tmp_path / "m.json"
    code = main(["--matrix", "--engines", "tensorflow", "--matrix-modes", "eager,compiled",
                 "--scenario", "regression", "--steps", "15", "--no-telemetry",
                 "--export", str(out_json)])
    assert code == 0, capsys.readouterr().out
    rows = json.loads(out_json.read_text())["matrix"]["rows"]
    assert [(r["task"], r["mode_label"]) for r in rows] == [
        ("train", "eager"), ("train", "tf.function"), ("infer", "eager"),
        ("infer", "tf.function")]
    for r in rows:
        assert r["status"] == "done" and r["median_step_s"] > 0 and r["first_step_s"] > 0
    compiled = rows[1]
    # tf.function traces in its first step: it costs more than an eager first step
    assert compiled["first_step_s"] > rows[0]["first_step_s"]
