"""Two results side by side: compare_runs() rows and warnings, and `--compare A.json B.json`."""

from __future__ import annotations

import copy
import json

import pytest

from engines import Comparison, settings_for
from engines.results.diff import compare_runs
from engines.results.document import build_results, write_json
from scenarios import find, load_builtins
from tui.cli import EXIT_BAD_INPUT, EXIT_OK, main

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


@pytest.fixture(scope="module")
def doc():
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=30, isolation="thread")
    return build_results(Comparison(scenario, settings, FAKE, telemetry=False).run())


def _other_machine(doc):
    b = copy.deepcopy(doc)
    b["environment"]["cpu"] = "Other CPU 9000"
    b["environment"]["cpu_count"] = 64
    for e in b["engines"].values():
        e["summary"]["median_step_s"] *= 2
    b["engines"]["pytorch"]["phases_s"]["first_step"] /= 2
    return b


def test_rows_side_by_side(doc):
    cmp = compare_runs(doc, _other_machine(doc))
    rows = {(r.section, r.label): r for r in cmp.rows}
    assert rows[("machine", "CPU")].b == "Other CPU 9000" and rows[("machine", "CPU")].differs
    assert rows[("machine", "cores")].b == "64"
    med = rows[("PyTorch", "median step")]
    assert med.note == "B 2.00x slower" and med.differs
    assert rows[("PyTorch", "first step")].note == "B 2.00x faster"
    assert not rows[("settings", "scenario")].differs
    assert ("verdict", "speed-up") in rows and ("verdict", "loss parity") in rows
    # fake engines carry a fairness warning into the comparison
    assert all("simulated" in w or "verdict in doubt" in w for w in cmp.warnings)
    assert any("simulated" in w for w in cmp.warnings)


def test_warnings_when_not_comparable(doc):
    b = copy.deepcopy(doc)
    b["settings"]["threads"] = 8
    b["settings"]["mode"] = "compiled"
    b["scenario"]["train"]["learning_rate"] = 0.5
    cmp = compare_runs(doc, b)
    text = "\n".join(cmp.warnings)
    assert "threads differs" in text and "mode differs" in text
    assert "defined differently" in text
    b["scenario"]["name"] = "cnn"
    assert any("different scenarios" in w for w in compare_runs(doc, b).warnings)


def test_legacy_and_partial_documents(doc):
    legacy = copy.deepcopy(doc)
    for key in ("kind", "fairness", "order"):
        legacy.pop(key, None)
    del legacy["engines"]["tensorflow"]
    cmp = compare_runs(legacy, doc)
    rows = {(r.section, r.label): r for r in cmp.rows}
    assert rows[("TensorFlow", "median step")].a == "-"


def test_cli_compare(tmp_path, doc, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(doc, a)
    write_json(_other_machine(doc), b)
    capsys.readouterr()
    assert main(["--compare", str(a), str(b)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"A: {a}")
    assert "Other CPU 9000" in out and "B 2.00x slower" in out and "[PyTorch]" in out


def test_cli_compare_rejects_corrupt_or_foreign(tmp_path, doc, capsys):
    a = tmp_path / "a.json"
    write_json(doc, a)
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1,')
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": "world"}))
    assert main(["--compare", str(a), str(bad)]) == EXIT_BAD_INPUT
    assert "corrupt JSON" in capsys.readouterr().err
    assert main(["--compare", str(foreign), str(a)]) == EXIT_BAD_INPUT
    assert "not a fwcompare results document" in capsys.readouterr().err
    assert main(["--compare", str(a), str(tmp_path / "missing.json")]) == EXIT_BAD_INPUT
